"""The rules processes sharing a study follow (shapenas.search.fleet.coordination), on in-memory, SQLite and journal
studies: the budget is never overshot, a trial waits only for earlier trials that may train its candidate, and
a trial whose lease went silent is failed and queued again, on every storage."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.fleet import coordination
from shapenas.search.fleet.coordination import OverBudget, check_budget, wait_for_earlier_twins
from shapenas.search.fleet.lease import Lease, Running, Watch
from shapenas.search.fleet.storage import in_memory_storage, open_storage

X = {"x": optuna.distributions.IntDistribution(0, 9)}
STORAGES = {
    "memory": lambda folder: in_memory_storage(),
    "sqlite": lambda folder: open_storage(f"sqlite:///{folder / 's.db'}", heartbeat_seconds=60),
    "journal": lambda folder: open_storage(f"journal:///{folder / 'j.log'}"),
}


@pytest.fixture(params=sorted(STORAGES))
def storage(request, tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return STORAGES[request.param](tmp_path)


@pytest.fixture
def study(storage):
    return optuna.create_study(storage=storage, directions=["maximize", "minimize"])


def _announce(study, key):
    trial = study.ask()
    trial.set_user_attr("key", key)
    return trial


def test_a_trial_past_the_budget_is_not_run(study):
    first, second = study.ask(), study.ask()
    check_budget(first, 2)
    check_budget(second, 2)
    third = study.ask()
    with pytest.raises(OverBudget):
        check_budget(third, 2)  # two earlier trials may still finish: they hold the budget
    assert third.user_attrs["fail_reason"].startswith(coordination.NOT_RUN)
    study.tell(third, state=TrialState.FAIL)
    study.tell(first, state=TrialState.FAIL)  # a failed trial frees its place
    fourth = study.ask()
    check_budget(fourth, 2)
    assert coordination.is_over_budget(study.trials[third.number]) and not coordination.is_over_budget(study.trials[0])


def _waiter(trial, key):
    thread = threading.Thread(target=wait_for_earlier_twins, args=(trial, key, 0.01), daemon=True)
    thread.start()
    return thread


def test_waits_for_an_earlier_twin_until_it_finishes(study):
    twin = _announce(study, "k")
    later = _announce(study, "k")
    thread = _waiter(later, "k")
    thread.join(0.3)
    assert thread.is_alive()
    study.tell(twin, [0.5, 1.0])
    thread.join(5)
    assert not thread.is_alive()


def test_waits_for_an_earlier_trial_that_has_not_announced_its_candidate(study):
    unannounced = study.ask()
    later = _announce(study, "k")
    thread = _waiter(later, "k")
    thread.join(0.3)
    assert thread.is_alive()
    unannounced.set_user_attr("key", "other")  # another candidate: no need to wait
    thread.join(5)
    assert not thread.is_alive()
    study.tell(unannounced, state=TrialState.FAIL)


def test_never_waits_for_later_trials_or_other_candidates(study):
    _announce(study, "other")
    mine = _announce(study, "k")
    _announce(study, "k")  # later: it waits for us, not we for it
    study.ask()  # later and unannounced
    thread = _waiter(mine, "k")
    thread.join(5)
    assert not thread.is_alive()


def test_wait_for_room_returns_once_an_in_flight_trial_fails(study, storage):
    study.tell(study.ask(), [0.1, 1.0])
    running = study.ask()
    trials = coordination.search_trials(study, storage, poll_seconds=0.01)
    thread = threading.Thread(target=coordination.wait_for_room, args=(trials, 2), daemon=True)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # 1 finished + 1 running cover a budget of 2
    study.tell(running, state=TrialState.FAIL)
    thread.join(5)
    assert not thread.is_alive()


def test_a_trial_left_running_is_failed_once_silent_for_two_beats_and_queued_again(storage):
    """What `resume` (or any process) does, on every storage: a running trial whose lease stays silent for two beats
    by this process's clock is failed and its candidate queued again."""
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    study.tell(study.ask(X), [0.1, 1.0])
    left = study.ask(X)
    now = [0.0]
    watch = Watch(seconds=10, clock=lambda: now[0])
    running = Running(study, watch, lambda trial: coordination.fail_dead(study, storage, trial))
    assert [t.number for t in running.alive()] == [left.number]
    now[0] = 20.5  # two beats (20 s) without one
    assert running.alive() == []
    trials = study.trials
    assert trials[left.number].state == TrialState.FAIL
    assert trials[left.number].user_attrs["fail_reason"] == "left running by a stopped process"
    assert trials[-1].state == TrialState.WAITING
    assert study.ask(X).params == {"x": left.params["x"]}  # the queued trial is the same candidate
    assert trials[0].state == TrialState.COMPLETE


def test_a_candidate_whose_process_keeps_dying_is_queued_again_three_times_at_most(storage):
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    queued = []
    for _ in range(coordination.MAX_REQUEUES + 1):
        trial = study.ask(X)  # the queued candidate, once there is one
        assert coordination.fail_dead(study, storage, study.trials[trial.number])
        queued.append(any(t.state == TrialState.WAITING for t in study.trials))
    assert queued == [True] * coordination.MAX_REQUEUES + [False]


def test_a_candidate_is_queued_once_however_many_processes_queue_it(study):
    # two processes that both took the FAIL for their own (one answer lost in an outage) both queue the candidate
    trial = study.ask(X)
    study.tell(trial, state=TrialState.FAIL)
    failed = study.trials[trial.number]
    coordination.queue_again(study, failed)
    coordination.queue_again(study, failed)
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == trial.number


def test_a_beating_trial_is_never_failed(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_seconds=0.1)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    running = coordination.search_trials(study, storage)
    with Lease(storage, storage.trial_id("s", trial.number)):
        for _ in range(10):  # 1 s: five times the grace
            assert [t.number for t in running.alive()] == [trial.number]
            time.sleep(0.1)
    assert study.trials[0].state == TrialState.RUNNING
    assert open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_seconds=60).heartbeat_seconds == 60


def test_a_dead_earlier_twin_is_failed_by_the_waiting_trial(tmp_path):
    storage = open_storage(f"journal:///{tmp_path / 'j.log'}", heartbeat_seconds=0.1)
    study = optuna.create_study(storage=storage, study_name="s")
    dead = _announce(study, "k")  # no lease: its process is gone
    later = _announce(study, "k")
    thread = _waiter(later, "k")
    thread.join(30)
    assert not thread.is_alive()
    assert study.trials[dead.number].state == TrialState.FAIL


def test_resume_says_which_trials_it_will_judge_before_failing_any(storage, capsys):
    study = optuna.create_study(storage=storage)
    coordination.note_running(study, storage)
    study.ask(), study.ask()
    coordination.note_running(study, storage)
    grace = 2 * storage.heartbeat_seconds
    assert capsys.readouterr().out.splitlines() == [
        f"trials still running: 0, 1; those whose process stopped are failed, and their candidates queued again, "
        f"once silent for {grace:g} s (2 heartbeats)"
    ]
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2
