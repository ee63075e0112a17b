"""Latency as an objective, end to end through the real CLI: a 2-trial search of mAP50-95 against latency and a
3-trial search of all three objectives, with real Ultralytics training (1 epoch, 64 px) and real latency timing
(batch 1, fused, interleaved with the base model). Then what reads them: the front table, plots, hypervolume with a
reference point, and export by knee and by latency budget."""

from __future__ import annotations

import json
import struct

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from shapenas.search.results import record
from tests.helpers import load, shapenas_cli, write_config

pytestmark = pytest.mark.slow

LATENCY = ["--set", "cost.latency_repeats=3", "--set", "cost.latency_warmup=1", "--set", "cost.latency_threads=1"]


def _search(folder, data, objectives: str, trials: int):
    config = write_config(folder, data, trials=trials)
    storage = f"sqlite:///{folder / 'study.db'}"
    done = shapenas_cli(
        "search", config, "--storage", storage, "--study", "a", "--set", f"search.objectives={objectives}", *LATENCY,
        cwd=folder,
    )  # fmt: skip
    return storage, done


@pytest.fixture(scope="module")
def latency_search(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("latency")
    return (folder, *_search(folder, tiny_data, "[map50_95,latency]", trials=2))


@pytest.fixture(scope="module")
def three_objectives(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("three")
    return (folder, *_search(folder, tiny_data, "[map50_95,gflops,latency]", trials=3))


def test_latency_search_stores_the_latency_of_every_trial(latency_search):
    _, storage, done = latency_search
    study = load(storage)
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert study.metric_names == ["mAP50-95", "latency/base@64"]
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 2
    for trial in trials:
        stored = record.read(trial)
        assert trial.values == [stored.map50_95, stored.latency_ratio]  # the objective is the ratio, not the ms
        assert stored.latency_ms > 0 and stored.latency_base_ms > 0 and stored.latency_ratio > 0
        assert (stored.latency_backend, stored.latency_threads, stored.latency_imgsz) == ("torch", 1, 64)
        assert stored.latency_repeats == 3 and stored.latency_device  # the CPU's model name
        assert stored.gflops > 0  # still measured, at cost.imgsz
    assert "latency/base@64" in done.stderr  # the progress line names the objective
    assert "latency ms" in done.stdout and "x base" in done.stdout  # the front table


def test_export_by_latency_budget_and_by_the_latency_knee(latency_search):
    folder, storage, _ = latency_search
    front = [t for t in load(storage).best_trials if record.is_trained(t)]
    fastest = min(front, key=lambda t: record.read(t).latency_ms)
    budget = record.read(fastest).latency_ms
    done = shapenas_cli(
        "export", "--storage", storage, "--study", "a", "--max-latency-ms", budget, "-o", "fast.yaml", cwd=folder
    )
    assert done.stdout.startswith(f"trial {fastest.number}: ") and "latency/base@64" in done.stdout
    assert yaml.safe_load((folder / "fast.yaml").read_text()) == yaml.safe_load(record.read(fastest).yaml)
    too_tight = shapenas_cli(
        "export", "--storage", storage, "--study", "a", "--max-latency-ms", budget / 10, "-o", "x.yaml",
        cwd=folder, check=False,
    )  # fmt: skip
    assert too_tight.returncode == 2 and "no front trial fits" in too_tight.stderr
    assert not (folder / "x.yaml").exists()
    shapenas_cli("export", "--storage", storage, "--study", "a", "--knee", "-o", "knee.yaml", cwd=folder)
    assert (folder / "knee.yaml").is_file()


def _png_size(path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])  # the IHDR chunk
    return width, height


def test_three_objective_front_table_files_and_plots(three_objectives):
    folder, storage, _ = three_objectives
    study = load(storage)
    assert study.metric_names == ["mAP50-95", "GFLOPs@64", "latency/base@64"] and len(study.directions) == 3
    done = shapenas_cli(
        "pareto", "--storage", storage, "--study", "a", "--json", "f.json", "--plot", "f.png",
        "--hypervolume-plot", "hv.png", "--reference-point", "0,10,10", cwd=folder,
    )  # fmt: skip
    assert "mAP50-95 up, GFLOPs@64 and latency/base@64 down" in done.stdout  # the header search ends with too
    assert "GFLOPs@64" in done.stdout and "latency ms" in done.stdout
    rows = json.loads((folder / "f.json").read_text())
    front = {t.number for t in study.best_trials if record.is_trained(t)}
    assert rows and {row["trial"] for row in rows} <= front  # a reused twin is listed once
    for row in rows:
        stored = record.read(study.trials[row["trial"]])
        assert (row["gflops"], row["latency_ms"], row["latency_ratio"]) == (
            stored.gflops,
            stored.latency_ms,
            stored.latency_ratio,
        )
    width, height = _png_size(folder / "f.png")
    assert width > 3 * height  # three panels side by side: each pair of objectives
    assert _png_size(folder / "hv.png")[0] > 0


def test_three_objective_export_by_either_knee_and_both_budgets(three_objectives):
    folder, storage, _ = three_objectives
    for cost in ("gflops", "latency"):
        shapenas_cli("export", "--storage", storage, "--study", "a", "--knee", cost, "-o", f"{cost}.yaml", cwd=folder)
        assert (folder / f"{cost}.yaml").is_file()
    front = [record.read(t) for t in load(storage).best_trials if record.is_trained(t)]
    widest = ["--max-gflops", max(r.gflops for r in front), "--max-latency-ms", max(r.latency_ms for r in front)]
    done = shapenas_cli("export", "--storage", storage, "--study", "a", *widest, "-o", "both.yaml", cwd=folder)
    best = max(front, key=lambda r: r.map50_95)
    assert f"mAP50-95 {best.map50_95:.4f}" in done.stdout
