"""Workers through a real PostgreSQL outage: the throwaway server of tests/postgres_server.py is stopped (as for a
restart: sessions cut, connections refused) in the middle of a trial, then started again. Real `shapenas worker`
subprocesses, real (tiny) training, short leases (1 s beats, so the grace period is 2 s) and short retry windows.

- One worker, a 10 s outage mid-trial: it goes on training, waits, writes; the budget is reached, exit code 0.
- An outage longer than the retry window: exit code 75 with one line, the trial's result in a pending file, and a
  later worker that writes it: into the trial itself, or, when another process failed that trial meanwhile, into
  the retry of its candidate, which then reuses the result instead of training again.
- Two workers and an outage longer than the lease's grace: neither fails the other's trial, each result is kept
  once, and no candidate is trained twice.
"""

from __future__ import annotations

import json
import time

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.fleet.coordination import search_trials
from shapenas.search.fleet.storage import open_storage
from tests.worker_helpers import (
    RESULT_ATTRS,
    cli,
    kill_all,
    load,
    retries_of,
    start_worker,
    wait_for,
    write_tiny_config,
)

pytestmark = pytest.mark.slow
OUTAGE_SECONDS = 10


@pytest.fixture
def running(postgres_server):
    """The server, started again after a test that left it stopped."""
    yield postgres_server
    if not postgres_server.running:
        postgres_server.resume()


def _create(url, study, folder, data, trials, epochs):
    config = write_tiny_config(folder, data, trials, epochs=epochs)
    done = cli("search", config, "--storage", url, "--study", study, "--create-only", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]


def _training(url, study_name, folder, running=1):
    """The trials running with their candidate announced and their training started, once there are some and
    `running` trials run in all (training, or waiting for a twin that trains); else None."""
    try:
        trials = load(url, study_name).get_trials(states=(TrialState.RUNNING,))
    except Exception:  # the study is not there yet
        return None
    runs = folder / "runs" / "shapenas" / study_name
    training = [t for t in trials if "key" in t.user_attrs and (runs / f"trial_{t.number:04d}" / "train").exists()]
    return training if training and len(trials) >= running else None


def _log(folder, name="worker"):
    return (folder / f"{name}.log").read_text()


def _assert_finished_cleanly(study, budget, failed_elsewhere=()):
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == budget
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING, TrialState.PRUNED))
    for trial in study.get_trials(states=(TrialState.FAIL,)):  # else only a trial that lost the race for the budget
        if trial.number in failed_elsewhere:
            continue
        assert trial.user_attrs["fail_reason"].startswith("not run: the budget"), trial.user_attrs
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        assert not [name for name in RESULT_ATTRS if name not in trial.user_attrs], trial.user_attrs
        assert trial.values == [trial.user_attrs["map50_95"], trial.user_attrs["gflops"]]


def _trained_keys(study):
    """The candidate of every trial that trained (rather than reused a result): each at most once."""
    return [
        t.user_attrs["key"]
        for t in study.get_trials(states=(TrialState.COMPLETE,))
        if "reused_from" not in t.user_attrs
    ]


def test_a_worker_rides_through_a_10_second_outage_mid_trial(running, tmp_path, tiny_data):
    url = running.url
    _create(url, "ride", tmp_path, tiny_data, trials=2, epochs=10)
    worker = start_worker(url, "ride", tmp_path, "--heartbeat", 1, "--storage-retry", 120)
    try:
        assert wait_for(lambda: _training(url, "ride", tmp_path), 300), _log(tmp_path)[-3000:]
        running.pause()
        time.sleep(OUTAGE_SECONDS)
        running.resume()
        assert worker.wait(timeout=600) == 0, _log(tmp_path)[-3000:]
    finally:
        kill_all(worker)
    log = _log(tmp_path)
    assert "storage unreachable (" in log and "storage back after" in log and "Traceback" not in log, log[-3000:]
    study = load(url, "ride")
    _assert_finished_cleanly(study, 2)
    assert len(_trained_keys(study)) == len(set(_trained_keys(study)))


def _give_up_mid_trial(server, folder, data, study_name):
    """A worker whose storage goes away mid-trial for longer than its 3 s retry window; the storage comes back after
    it exited. Returns (trial number, the pending file's record)."""
    _create(server.url, study_name, folder, data, trials=1, epochs=8)
    worker = start_worker(server.url, study_name, folder, "--heartbeat", 1, "--storage-retry", 3, log_name="first")
    try:
        assert wait_for(lambda: _training(server.url, study_name, folder), 300), _log(folder, "first")[-3000:]
        number = _training(server.url, study_name, folder)[0].number
        server.pause()
        assert worker.wait(timeout=300) == 75, _log(folder, "first")[-3000:]
    finally:
        kill_all(worker)
        if not server.running:
            server.resume()
    lines = _log(folder, "first").strip().splitlines()
    assert "Traceback" not in _log(folder, "first")
    assert lines[-1].startswith("shapenas worker: storage unreachable for 3 s (") and "saved to" in lines[-1], lines
    pending = list((folder / "runs" / "shapenas" / study_name / "pending").glob("*.json"))
    assert len(pending) == 1 and f"trial {number} saved to {pending[0].relative_to(folder)}" in lines[-1]
    record = json.loads(pending[0].read_text())
    assert record["number"] == number and record["state"] == "COMPLETE" and len(record["values"]) == 2
    return number, record


def test_past_the_retry_window_the_result_waits_in_a_file_for_the_next_worker(running, tmp_path, tiny_data):
    number, record = _give_up_mid_trial(running, tmp_path, tiny_data, "gone")
    assert load(running.url, "gone").trials[number].state == TrialState.RUNNING

    later = start_worker(running.url, "gone", tmp_path, "--heartbeat", 1, log_name="later")
    try:
        assert later.wait(timeout=600) == 0, _log(tmp_path, "later")[-3000:]
    finally:
        kill_all(later)
    assert f"pending result of trial {number} (COMPLETE): written" in _log(tmp_path, "later")
    study = load(running.url, "gone")
    uploaded = study.trials[number]
    assert uploaded.state == TrialState.COMPLETE and uploaded.values == record["values"]
    assert {name: uploaded.user_attrs[name] for name in record["user_attrs"]} == record["user_attrs"]
    _assert_finished_cleanly(study, 1)
    assert not list((tmp_path / "runs" / "shapenas" / "gone" / "pending").iterdir())


def _fail_stale(url, study_name):
    """What any other process does as it looks: fail the trials whose lease went silent, queue them again."""
    storage = open_storage(url, heartbeat_seconds=1, create=False)
    running = search_trials(optuna.load_study(study_name=study_name, storage=storage), storage, poll_seconds=0.2)
    assert wait_for(lambda: not running.alive(), timeout=60)


def test_a_result_whose_trial_was_failed_meanwhile_goes_to_the_retry(running, tmp_path, tiny_data):
    number, record = _give_up_mid_trial(running, tmp_path, tiny_data, "orphan")
    _fail_stale(running.url, "orphan")
    study = load(running.url, "orphan")
    assert study.trials[number].state == TrialState.FAIL
    retry = retries_of(study, number)
    assert len(retry) == 1 and retry[0].state == TrialState.WAITING

    later = start_worker(running.url, "orphan", tmp_path, "--heartbeat", 1, log_name="later")
    try:
        assert later.wait(timeout=600) == 0, _log(tmp_path, "later")[-3000:]
    finally:
        kill_all(later)
    assert f"pending result of trial {number} (COMPLETE): kept for the retry of its candidate" in _log(
        tmp_path, "later"
    )
    study = load(running.url, "orphan")
    assert study.trials[number].state == TrialState.FAIL  # the other process's FAIL stays
    reused = study.trials[retry[0].number]
    assert reused.state == TrialState.COMPLETE and reused.user_attrs["reused_from"] == number
    assert reused.values[0] == record["values"][0] and reused.user_attrs["map50_95"] == record["user_attrs"]["map50_95"]
    assert not (tmp_path / "runs" / "shapenas" / "orphan" / f"trial_{reused.number:04d}" / "train").exists()
    _assert_finished_cleanly(study, 1, failed_elsewhere=[number])


def test_two_workers_ride_through_an_outage_longer_than_the_lease_grace(running, tmp_path, tiny_data):
    url = running.url
    _create(url, "pair", tmp_path, tiny_data, trials=2, epochs=16)
    workers = [start_worker(url, "pair", tmp_path, "--heartbeat", 1, log_name=f"w{i}") for i in range(2)]
    try:
        assert wait_for(lambda: _training(url, "pair", tmp_path, running=2), 300), _log(tmp_path, "w0")[-3000:]
        running.pause()
        time.sleep(OUTAGE_SECONDS)  # 5x the grace period: every lease looks silent when the server is back
        running.resume()
        codes = [worker.wait(timeout=600) for worker in workers]
    finally:
        kill_all(*workers)
    logs = [_log(tmp_path, f"w{i}") for i in range(2)]
    assert codes == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert all("storage back after" in log and "Traceback" not in log for log in logs), logs
    study = load(url, "pair")
    _assert_finished_cleanly(study, 2)  # no FAIL: neither worker failed the other's live trial
    assert len(_trained_keys(study)) == len(set(_trained_keys(study)))  # no candidate trained twice
    assert not [name for name in study.user_attrs if name.startswith("orphaned_result:")]
