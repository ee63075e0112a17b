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
    samples = re.findall(r"^sample (\d+)/20  key [0-9a-f]{16}  (\d+\.\d{3}) GFLOPs @\d+  [\d,]+ params$", out, re.M)
    assert [int(k) for k, _ in samples] == list(range(1, 21)) and all(float(g) > 0 for _, g in samples)
