"""An interrupted trial is retried by the next process, a preset above all (without its baseline a study can never be
verified): SIGTERM during the baseline of a real `search` subprocess, then `resume` trains the baseline and
`verify --front` works; and a study whose interrupted trial nobody queued again (made before the fix) is repaired."""

from __future__ import annotations

import os
import signal
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.fleet.coordination import queue_interrupted
from shapenas.search.results import record
from tests.worker_helpers import CLI, cli, kill_all, load, wait_for, write_tiny_config


def _baseline_training(storage: str, folder) -> bool:
    try:
        running = load(storage, "s").get_trials(states=(TrialState.RUNNING,))
    except KeyError:  # the study is not created yet
        return False
    return any((folder / "runs" / "shapenas" / "s" / f"trial_{t.number:04d}" / "train").exists() for t in running)


def _start_search(config, storage: str, folder) -> subprocess.Popen:
    log = open(os.path.join(folder, "search.log"), "w")
    args = [*CLI, "search", str(config), "--storage", storage, "--study", "s"]
    return subprocess.Popen(args, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
def test_sigterm_during_the_baseline_then_resume_retries_it_and_verify_works(tmp_path, tiny_data):
    config = write_tiny_config(tmp_path, tiny_data, trials=2, epochs=8)  # 8 epochs: the signal lands mid-training
    storage = f"sqlite:///{tmp_path / 'a.db'}"
    search = _start_search(config, storage, tmp_path)
    try:
        assert wait_for(lambda: _baseline_training(storage, tmp_path), 300), (tmp_path / "search.log").read_text()
        search.send_signal(signal.SIGTERM)
        assert search.wait(timeout=120) == 143
    finally:
        kill_all(search)
    study = load(storage, "s")
    failed = study.trials[0]
    assert failed.state == TrialState.FAIL and record.read(failed).fail_reason == "interrupted by SIGTERM"
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [record.read(t).preset for t in waiting] == ["baseline"]

    resumed = cli("resume", "--study", "s", "--storage", storage, "--trials", 1, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    retried = [t for t in load(storage, "s").get_trials(states=(TrialState.COMPLETE,))]
    assert [record.read(t).preset for t in retried] == ["baseline"] and record.is_trained(retried[0])

    verified = cli("verify", "--study", "s", "--storage", storage, "--front", "--epochs", 1, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr[-3000:]
    assert "Traceback" not in verified.stderr and "baseline" in verified.stdout


def test_an_interrupted_trial_nobody_queued_is_queued_once(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'a.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    distribution = optuna.distributions.IntDistribution(0, 9)
    for number, reason in enumerate(["interrupted by SIGTERM", "CUDA out of memory"]):
        attrs = record.attrs(preset="baseline" if number == 0 else None, fail_reason=reason)
        study.add_trial(
            optuna.create_trial(
                state=TrialState.FAIL, params={"x": number}, distributions={"x": distribution}, user_attrs=attrs
            )
        )
    assert queue_interrupted(study) == [0]
    assert queue_interrupted(study) == []  # the queued retry counts as the retry
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.system_attrs["fixed_params"] == {"x": 0} and record.read(waiting).preset == "baseline"
    assert record.read(waiting).retry_of == 0
