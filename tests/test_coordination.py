"""The rules processes sharing a study follow (shapenas.search.fleet.coordination), on in-memory, SQLite and journal
studies: the budget is never overshot, a trial waits only for earlier trials that may train its candidate, and
`resume` on a storage without a heartbeat fails what was left running and queues it again."""

from __future__ import annotations

import threading

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.fleet import coordination
from shapenas.search.fleet.coordination import OverBudget, check_budget, fail_left_running, wait_for_earlier_twins
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


def test_wait_for_room_returns_once_an_in_flight_trial_fails(study):
    study.tell(study.ask(), [0.1, 1.0])
    running = study.ask()
    thread = threading.Thread(target=coordination.wait_for_room, args=(study, 2, 0.01), daemon=True)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # 1 finished + 1 running cover a budget of 2
    study.tell(running, state=TrialState.FAIL)
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("kind", ["journal", "memory"])
def test_resume_without_a_heartbeat_fails_trials_left_running_and_queues_them(kind, tmp_path):
    storage = STORAGES[kind](tmp_path)
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    study.tell(study.ask(X), [0.1, 1.0])
    left = study.ask(X)
    assert fail_left_running(study, storage) == [left.number]
    trials = study.trials
    assert trials[left.number].state == TrialState.FAIL
    assert trials[left.number].user_attrs["fail_reason"] == "left running by a stopped process"
    assert trials[-1].state == TrialState.WAITING
    assert study.ask(X).params == {"x": left.params["x"]}  # the queued trial is the same candidate
    assert trials[0].state == TrialState.COMPLETE


def test_heartbeat_storages_are_left_to_the_heartbeat(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_seconds=60)
    study = optuna.create_study(storage=storage)
    study.ask()
    assert storage.heartbeat_seconds == 60 and fail_left_running(study, storage) == []
    assert study.trials[0].state == TrialState.RUNNING
