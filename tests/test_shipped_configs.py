"""Every config in configs/ validates and samples: `shapenas space CONFIG --sample 20` (the issue's done-when)."""

import re
from pathlib import Path

import pytest

from shapenas.cli import main

CONFIGS = sorted(Path(__file__).resolve().parents[1].glob("configs/*.yaml"))


def test_configs_are_shipped():
    assert {p.name for p in CONFIGS} >= {"quickstart.yaml", "search_yolov5n.yaml", "search_yolo11n.yaml"}


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_space_samples_twenty_candidates(config, capsys):
    assert main(["space", str(config), "--sample", "20"]) == 0
    out = capsys.readouterr().out
    assert "space size" in out
    # GFLOPs at the deployment size, cost.imgsz (640 in every shipped config)
    samples = re.findall(r"^sample (\d+)/20  key [0-9a-f]{16}  (\d+\.\d{3}) GFLOPs @640  [\d,]+ params$", out, re.M)
    assert [int(k) for k, _ in samples] == list(range(1, 21)) and all(float(g) > 0 for _, g in samples)


@pytest.mark.slow
def test_space_samples_show_latency_when_it_is_an_objective(capsys):
    quickstart = next(p for p in CONFIGS if p.name == "quickstart.yaml")
    sets = ["search.objectives=[map50_95,latency]", "cost.imgsz=64", "cost.latency_repeats=3", "cost.latency_threads=1"]
    assert main(["space", str(quickstart), "--sample", "2", *(f"--set={s}" for s in sets)]) == 0
    out = capsys.readouterr().out
    pattern = r"^sample \d/2  key \w{16}  [\d.]+ GFLOPs @64  [\d,]+ params  latency [\d.]+ ms \([\d.]+ x base, torch\)$"
    assert len(re.findall(pattern, out, re.M)) == 2, out
