"""The RDB storage `open_storage` gives has Optuna's trial cache in front (on real SQLite files): a finished trial is
read from the database once; changes made by other processes are still seen; the lease works through it."""

from __future__ import annotations

import contextlib
import time

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from shapenas.search.fleet import coordination
from shapenas.search.fleet.lease import Lease
from shapenas.search.fleet.storage import open_storage


@pytest.fixture
def url(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return f"sqlite:///{tmp_path / 'c.db'}"


@contextlib.contextmanager
def statements():
    """Every SQL statement any engine runs inside the block (SQLAlchemy's public event hook)."""
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        seen.append(statement)

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", listen)


def _finished_study(url: str, trials: int) -> optuna.Study:
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    for number in range(trials):
        trial = study.ask()
        trial.set_user_attr("yaml", "x" * 1000)
        study.tell(trial, float(number))
    return study


def test_a_second_read_of_finished_trials_does_not_read_them_again(url):
    _finished_study(url, 30)
    study = optuna.load_study(study_name="s", storage=open_storage(url, create=False))  # a fresh process's view
    with statements() as first:
        assert len(study.get_trials(deepcopy=False)) == 30
    with statements() as second:
        assert len(study.get_trials(deepcopy=False)) == 30
    assert any("trial_user_attributes" in s for s in first)
    assert not any("trial_user_attributes" in s for s in second), second
    assert len(second) <= 2, second  # the study exists; no trial newer than the last finished one


def test_trials_finished_elsewhere_are_seen(url):
    writer = optuna.create_study(storage=open_storage(url), study_name="s")
    running = writer.ask()
    reader = optuna.load_study(study_name="s", storage=open_storage(url, create=False))
    assert [t.state for t in reader.get_trials()] == [TrialState.RUNNING]
    writer.tell(running, 1.0)
    writer.tell(writer.ask(), 2.0)
    assert [(t.state, t.value) for t in reader.get_trials()] == [(TrialState.COMPLETE, 1.0), (TrialState.COMPLETE, 2.0)]


def test_the_lease_works_through_the_cache(url):
    # Beats are writes to running trials, which the cache reads again each time: another process sees them change,
    # and fails a trial whose beat stops (its candidate queued again).
    storage = open_storage(url, heartbeat_seconds=0.5)
    study = optuna.create_study(storage=storage, study_name="s")
    beating, silent = study.ask(), study.ask()
    watcher_storage = open_storage(url, heartbeat_seconds=0.5)
    watcher = optuna.load_study(study_name="s", storage=watcher_storage)
    running = coordination.search_trials(watcher, watcher_storage)
    with Lease(storage, storage.trial_id("s", beating.number)):
        assert {t.number for t in running.alive()} == {beating.number, silent.number}  # first sight: nobody judged
        time.sleep(2)  # 4 beats of the lease: the silent trial's beat has not changed for longer than 2
        assert [t.number for t in running.alive()] == [beating.number]
    states = {t.number: t.state for t in watcher.get_trials()}
    assert states[beating.number] == TrialState.RUNNING and states[silent.number] == TrialState.FAIL
    assert TrialState.WAITING in states.values()  # the silent trial's candidate, queued again
