"""Stopping workers with real signals on real subprocesses (journal storage, no server needed).

SIGTERM and Ctrl-C (SIGINT) in the middle of a trial: the trial is closed as FAIL with fail_reason "interrupted by
SIG...", nothing is left RUNNING, finished trials are untouched, and the exit code is 128 + the signal (143, 130).
`--workers-per-device 2` forwards SIGTERM to both its worker processes and exits 143.
"""

from __future__ import annotations

import signal

import pytest
from optuna.trial import TrialState

from shapenas.cli import main
from tests.worker_helpers import kill_all, load, snapshot, start_worker, wait_for, write_tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture
def journal_study(tmp_path, tiny_data, monkeypatch):
    """A created study, 8 epochs a trial so that a signal lands mid-training; returns (storage URL, folder)."""
    monkeypatch.chdir(tmp_path)
    config = write_tiny_config(tmp_path, tiny_data, trials=4, epochs=8)
    storage = f"journal:///{tmp_path / 'study.log'}"
    assert main(["search", str(config), "--storage", storage, "--study", "s", "--create-only"]) == 0
    return storage, tmp_path


def _training(storage, folder, count=1):
    """The trials running with their candidate announced, once `count` of them are; else None."""
    running = [t for t in load(storage, "s").get_trials(states=(TrialState.RUNNING,)) if "key" in t.user_attrs]
    training = [t for t in running if (folder / "runs" / "shapenas" / "s" / f"trial_{t.number:04d}" / "train").exists()]
    return running if len(running) >= count and training else None


def _assert_closed(storage, interrupted, before, reason):
    study = load(storage, "s")
    assert not study.get_trials(states=(TrialState.RUNNING,))
    for trial in interrupted:
        closed = study.trials[trial.number]
        assert closed.state == TrialState.FAIL and closed.user_attrs["fail_reason"] == reason, closed.user_attrs
    after = snapshot(study)
    assert {n: after[n] for n in before} == before


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_trial_fails_the_trial_cleanly(journal_study, signum, code):
    storage, folder = journal_study
    worker = start_worker(storage, "s", folder)
    try:
        assert wait_for(lambda: _training(storage, folder), 300), (folder / "worker.log").read_text()[-3000:]
        interrupted = _training(storage, folder)
        before = {n: s for n, s in snapshot(load(storage, "s")).items() if s[0] == TrialState.COMPLETE}
        worker.send_signal(signum)
        assert worker.wait(timeout=120) == code
    finally:
        kill_all(worker)
    log = (folder / "worker.log").read_text()
    name = signal.Signals(signum).name
    assert f"shapenas worker: interrupted by {name}" in log and "Traceback" not in log, log[-3000:]
    _assert_closed(storage, interrupted, before, f"interrupted by {name}")


def test_pool_forwards_sigterm_to_every_worker(journal_study):
    storage, folder = journal_study
    pool = start_worker(storage, "s", folder, "--workers-per-device", 2, log_name="pool")
    try:
        assert wait_for(lambda: _training(storage, folder, count=2), 300), (folder / "pool.log").read_text()[-3000:]
        interrupted = _training(storage, folder, count=2)
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(timeout=120) == 143
    finally:
        kill_all(pool)
    log = (folder / "pool.log").read_text()
    assert log.count("shapenas worker: interrupted by SIGTERM") == 2 and "Traceback" not in log, log[-3000:]
    _assert_closed(storage, interrupted, {}, "interrupted by SIGTERM")
