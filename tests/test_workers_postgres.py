"""Many workers on one PostgreSQL study, for real: a throwaway server on loopback, `shapenas worker` subprocesses,
real (tiny) training. Skipped, with the reason, where PostgreSQL or psycopg is not installed (`.ci/run` installs
both).

- Three workers share one budget: exactly that many finished trials, no candidate trained twice at the same time,
  every trial's attributes stored.
- A worker killed with SIGKILL while it trains a trial: its trial is failed by the lease and retried by another
  worker; finished trials are untouched.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict

import pytest
from optuna.trial import TrialState

from shapenas.config import load_config
from shapenas.spaces import SearchSpace
from shapenas.spaces.candidate import Candidate, Choice
from tests.worker_helpers import (
    RESULT_ATTRS,
    cli,
    kill_all,
    load,
    retries_of,
    snapshot,
    start_worker,
    write_tiny_config,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres_url(postgres_server):
    return postgres_server.url


def _create(url, study, folder, data, trials):
    config = write_tiny_config(folder, data, trials)
    done = cli("search", config, "--storage", url, "--study", study, "--create-only", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]


def _assert_no_overlapping_training(trials):
    """Trials of one candidate that trained (did not reuse a twin) never ran at the same time."""
    by_key = defaultdict(list)
    for trial in trials:
        if "reused_from" not in trial.user_attrs:
            by_key[trial.user_attrs["key"]].append(trial)
    for key, trained in by_key.items():
        spans = sorted((t.datetime_start, t.datetime_complete) for t in trained)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start, f"candidate {key} trained twice at the same time"


def _assert_reuse_waited_for_its_twin(study, trials):
    for trial in trials:
        if "reused_from" in trial.user_attrs:
            twin = study.trials[trial.user_attrs["reused_from"]]
            assert twin.state == TrialState.COMPLETE and twin.user_attrs["key"] == trial.user_attrs["key"]
            assert twin.datetime_complete <= trial.datetime_complete
            assert "reused_from" not in twin.user_attrs


def test_three_workers_share_one_budget_exactly(postgres_url, tmp_path, tiny_data):
    budget = 7
    _create(postgres_url, "three", tmp_path, tiny_data, budget)
    workers = [start_worker(postgres_url, "three", tmp_path, "--heartbeat", 2, log_name=f"w{i}") for i in range(3)]
    try:
        codes = [worker.wait(timeout=600) for worker in workers]
    finally:
        kill_all(*workers)
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(3)]
    assert codes == [0, 0, 0], "\n".join(log[-2000:] for log in logs)
    assert not any("Traceback" in log for log in logs)

    study = load(postgres_url, "three")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == budget and not study.get_trials(states=(TrialState.PRUNED,))
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    for trial in study.get_trials(states=(TrialState.FAIL,)):  # only a trial that lost the race for the budget
        assert trial.user_attrs["fail_reason"].startswith("not run: the budget"), trial.user_attrs
    for trial in complete:
        missing = [name for name in RESULT_ATTRS if name not in trial.user_attrs]
        assert not missing, (trial.number, missing)
        assert trial.values == [trial.user_attrs["map50_95"], trial.user_attrs["gflops"]]
    _assert_no_overlapping_training(complete)
    _assert_reuse_waited_for_its_twin(study, complete)
    trained_keys = [t.user_attrs["key"] for t in complete if "reused_from" not in t.user_attrs]
    assert len(trained_keys) == len(set(trained_keys)) <= 3  # three candidates: each trained once at most


def _queue_a_second_candidate(url, study_name, config_path) -> None:
    """Queue DySample(lp, groups 2) after the baseline preset, so that trial 1 trains for sure (a sampled candidate
    might be the baseline again, and reuse its result without training)."""
    space = SearchSpace(load_config(config_path))
    dysample = Candidate.of({13: Choice.of("DySample", style="lp", groups=2, dyscope=False)})
    load(url, study_name).enqueue_trial(space.to_params(dysample))


def _training_after_a_finished_trial(study) -> bool:
    """True when a trial is finished and a later one is training: its cost is recorded, it reuses no twin and has
    no result yet (with one worker nothing makes it wait)."""
    trials = study.get_trials()
    training = [
        t
        for t in trials
        if t.state == TrialState.RUNNING and "gflops" in t.user_attrs
        if "reused_from" not in t.user_attrs and "map50_95" not in t.user_attrs
    ]
    return any(t.state == TrialState.COMPLETE for t in trials) and bool(training)


def _kill_while_training(worker, study, timeout: float) -> bool:
    """SIGKILL `worker` once it trains a trial after a finished one. The worker is frozen (SIGSTOP) while the storage
    is read, so its trial cannot finish between that look and the kill."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        os.killpg(worker.pid, signal.SIGSTOP)
        if _training_after_a_finished_trial(study):
            os.killpg(worker.pid, signal.SIGKILL)
            return True
        os.killpg(worker.pid, signal.SIGCONT)
        time.sleep(0.2)
    return False


def test_sigkilled_worker_trial_is_retried_by_another_worker(postgres_url, tmp_path, tiny_data):
    _create(postgres_url, "killed", tmp_path, tiny_data, trials=3)
    _queue_a_second_candidate(postgres_url, "killed", tmp_path / "tiny.yaml")
    victim = start_worker(postgres_url, "killed", tmp_path, "--heartbeat", 1, log_name="victim")
    try:
        killed_it = _kill_while_training(victim, load(postgres_url, "killed"), 300)
        assert killed_it, (tmp_path / "victim.log").read_text()
        victim.wait(timeout=30)
    finally:
        kill_all(victim)
    study = load(postgres_url, "killed")
    before = {n: s for n, s in snapshot(study).items() if s[0] == TrialState.COMPLETE}
    killed = study.get_trials(states=(TrialState.RUNNING,))
    assert len(killed) == 1

    rescuer = start_worker(postgres_url, "killed", tmp_path, "--heartbeat", 1, log_name="rescuer")
    try:
        assert rescuer.wait(timeout=600) == 0, (tmp_path / "rescuer.log").read_text()[-3000:]
    finally:
        kill_all(rescuer)
    study = load(postgres_url, "killed")
    after = snapshot(study)
    assert {n: after[n] for n in before} == before  # nothing finished was lost or changed
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert study.trials[killed[0].number].state == TrialState.FAIL
    retries = retries_of(study, killed[0].number)
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed[0].params
