"""The main job end to end through the real CLI: search, pareto, export, build of the export, resume after SIGKILL,
and a reproducible candidate sequence for a fixed seed. Real Ultralytics training (1 epoch, 64 px, 16 images)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from optuna.trial import TrialState

from shapenas.cost import yaml_cost
from tests.helpers import load, shapenas_cli, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("search")
    config = write_config(folder, tiny_data)
    storage = f"sqlite:///{folder / 'study.db'}"
    done = shapenas_cli("search", config, "--storage", storage, "--study", "a", cwd=folder)
    return folder, config, storage, done


def test_search_stores_every_result_on_the_trials(searched):
    folder, _, storage, done = searched
    assert "Pareto front of study 'a'" in done.stdout
    trials = load(storage).get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 2
    assert trials[0].user_attrs["preset"] == "baseline" and trials[0].user_attrs["summary"] == "baseline"
    for trial in trials:
        attrs = trial.user_attrs
        for name in ("yaml", "params", "gflops", "map50_95", "map50", "epoch_map50_95", "train_seconds", "device"):
            assert name in attrs, name
        assert len(attrs["epoch_map50_95"]) == 1 and attrs["device"] == "cpu"
        assert yaml.safe_load(attrs["yaml"])["nc"] == 5  # built, costed and exported with the dataset's classes
        assert trial.values == [attrs["map50_95"], attrs["gflops"]]
    assert "trial 1 (2/2 done)" in done.stderr  # the progress display


def test_pareto_prints_and_writes_files(searched):
    folder, _, storage, _ = searched
    done = shapenas_cli(
        "pareto",
        "--storage",
        storage,
        "--study",
        "a",
        "--csv",
        "f.csv",
        "--json",
        "f.json",
        "--plot",
        "f.png",
        "--hypervolume-plot",
        "hv.png",
        cwd=folder,
    )
    assert "mAP50-95" in done.stdout and "GFLOPs" in done.stdout
    rows = json.loads((folder / "f.json").read_text())
    assert rows and {"trial", "map50_95", "map50", "gflops", "params", "summary"} <= set(rows[0])
    assert (folder / "f.csv").read_text().startswith("trial,map50_95")
    for png in ("f.png", "hv.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_builds_in_a_new_process_with_the_recorded_cost(searched):
    folder, _, storage, _ = searched
    shapenas_cli(
        "export", "--storage", storage, "--study", "a", "--knee", "-o", "best.yaml", "--weights", "best.pt", cwd=folder
    )
    exported = yaml.safe_load((folder / "best.yaml").read_text())
    trial = next(
        t for t in load(storage).trials if t.user_attrs.get("yaml") and yaml.safe_load(t.user_attrs["yaml"]) == exported
    )
    cost = yaml_cost(exported, 64)
    assert (cost.params, round(cost.gflops, 6)) == (trial.user_attrs["params"], trial.user_attrs["gflops"])
    script = (
        "import shapenas, ultralytics, sys; m = ultralytics.YOLO(sys.argv[1]); "
        "print(sum(p.numel() for p in m.model.parameters()))"
    )
    built = subprocess.run(
        [sys.executable, "-c", script, "best.yaml"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert int(built.stdout.split()[-1]) == trial.user_attrs["params"]
    assert (folder / "best.pt").stat().st_size > 0


def test_same_seed_gives_the_same_candidates(searched):
    folder, config, storage, _ = searched
    shapenas_cli("search", config, "--storage", storage, "--study", "b", cwd=folder)
    keys = [[t.user_attrs["key"] for t in load(storage, name).trials] for name in ("a", "b")]
    assert keys[0] == keys[1]


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_resume_after_sigkill_in_the_middle_of_a_trial(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data, trials=3, epochs=3)  # long enough to be killed inside a trial
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = [
        sys.executable,
        "-m",
        "shapenas.cli",
        "search",
        str(config),
        "--storage",
        storage,
        "--study",
        "k",
        "--heartbeat",
        "1",
    ]
    process = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )

    def second_trial_training():
        """A trial has finished and the next one is inside Ultralytics' training (its run folder exists)."""
        try:
            trials = load(storage, "k").trials
        except KeyError:
            return False
        running = [t for t in trials if t.state == TrialState.RUNNING]
        return (
            any(t.state == TrialState.COMPLETE for t in trials)
            and len(running) == 1
            and (tmp_path / "runs" / "shapenas" / "k" / f"trial_{running[0].number:04d}" / "train").exists()
        )

    try:
        assert _wait_for(second_trial_training, 300), "the search never reached its second trial's training"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    before = {t.number: (t.values, t.user_attrs) for t in load(storage, "k").get_trials(states=(TrialState.COMPLETE,))}
    killed = [t for t in load(storage, "k").trials if t.state == TrialState.RUNNING]
    assert len(before) == 1 and len(killed) == 1
    time.sleep(3)  # past the grace period (2 heartbeats)

    shapenas_cli("resume", "--storage", storage, "--study", "k", "--heartbeat", "1", cwd=tmp_path)
    study = load(storage, "k")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 3
    for number, (values, attrs) in before.items():  # nothing finished was lost or changed
        assert (study.trials[number].values, study.trials[number].user_attrs) == (values, attrs)
    assert study.trials[killed[0].number].state == TrialState.FAIL
    retried = [t for t in complete if t.params == killed[0].params and t.number != killed[0].number]
    assert retried, "the killed trial's candidate was not retried"
