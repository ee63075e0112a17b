"""The lease (shapenas.search.fleet.lease): beats land in a system attribute, never in the trial record nor behind
the owned trial's queued writes; a beat that fails marks the outage and is tried again each second; a trial is dead
only once its beat stayed the same for two beats by the watcher's clock, and never during or just after an outage; a
journal study whose worker was SIGKILLed has its trial failed and its candidate queued again, once, by another
process."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from shapenas.search.fleet import coordination
from shapenas.search.fleet.lease import BEAT_ATTR, Lease, Watch
from shapenas.search.fleet.outage import Outage
from shapenas.search.fleet.retrying import RetryingStorage
from shapenas.search.fleet.storage import in_memory_storage, open_storage
from shapenas.search.results import record
from tests.worker_helpers import wait_for

X = {"x": optuna.distributions.IntDistribution(0, 9)}
STORAGES = {
    "memory": lambda folder: in_memory_storage(),
    "sqlite": lambda folder: open_storage(f"sqlite:///{folder / 's.db'}"),
    "journal": lambda folder: open_storage(f"journal:///{folder / 'j.log'}"),
}


@pytest.mark.parametrize("kind", sorted(STORAGES))
def test_beats_go_to_a_system_attribute_never_to_the_record_nor_the_owned_queue(kind, tmp_path):
    storage = STORAGES[kind](tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    trial_id = storage.trial_id("s", trial.number)
    beats = set()

    def beaten_twice() -> bool:
        beats.add(storage.get_trial(trial_id).system_attrs.get(BEAT_ATTR))
        return len(beats - {None}) >= 2

    with storage.owning(trial_id), Lease(storage, trial_id, seconds=0.05):
        record.write(trial, key="k")
        assert wait_for(beaten_twice, timeout=30)
        assert storage.queued() == []  # no beat waits behind the trial's own writes
    stored = storage.get_trial(trial_id)
    assert BEAT_ATTR in stored.system_attrs and set(stored.user_attrs) == {"key"}
    assert record.read(stored) == record.TrialRecord(key="k")


class Flaky:
    """An in-memory storage whose beats fail like a database that went away, `failures` times."""

    def __init__(self, failures: int):
        self.memory, self.failures, self.tries = optuna.storages.InMemoryStorage(), failures, 0

    def __getattr__(self, name):
        return getattr(self.memory, name)

    def set_trial_system_attr(self, trial_id, key, value):
        self.tries += 1
        if self.tries <= self.failures:
            raise sqlalchemy.exc.OperationalError("UPDATE", {}, ConnectionRefusedError("Connection refused"))
        self.memory.set_trial_system_attr(trial_id, key, value)


def test_a_failed_beat_marks_the_outage_and_is_tried_again_each_second():
    stream = io.StringIO()
    flaky = Flaky(failures=2)
    storage = RetryingStorage(flaky, "flaky", 30, Outage(60, stream=stream))
    study = optuna.create_study(storage=storage, study_name="s")
    trial_id = storage.trial_id("s", study.ask().number)
    with Lease(storage, trial_id):  # a 30 s lease: only the retries after a failed beat come this soon
        assert storage.outage.is_down
        assert wait_for(lambda: BEAT_ATTR in storage.get_trial(trial_id).system_attrs, timeout=20)
    assert not storage.outage.is_down and flaky.tries == 3
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("storage unreachable (Connection refused)") and lines[1].startswith("storage back")


def test_a_lease_never_raises_and_says_each_error_once(capsys):
    storage = in_memory_storage()
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    trial_id = storage.trial_id("s", trial.number)
    study.tell(trial, state=TrialState.FAIL)  # failed by another process: every beat is refused
    with Lease(storage, trial_id, seconds=0.05):
        time.sleep(0.3)
    assert capsys.readouterr().err.count("lease: UpdateFinishedTrialError") == 1


def test_a_trial_is_dead_only_after_its_beat_stays_the_same_for_two_heartbeats():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = in_memory_storage()
    study = optuna.create_study(storage=storage, study_name="s")
    trial_id = storage.trial_id("s", study.ask().number)
    now = [0.0]
    watch = Watch(seconds=10, clock=lambda: now[0])

    def dead_at(time, beat=None):
        now[0] = time
        if beat is not None:
            storage.set_trial_system_attr(trial_id, BEAT_ATTR, beat)
        return watch.is_dead(study.trials[0])

    assert [dead_at(0), dead_at(15), dead_at(20.5)] == [False, False, True]  # never beat: dead after 20 s
    assert [dead_at(21, beat=1.0), dead_at(40), dead_at(41.5)] == [False, False, True]
    assert [dead_at(42, beat=2.0), dead_at(61, beat=3.0), dead_at(80)] == [False, False, False]


def test_no_trial_is_judged_dead_during_or_just_after_a_storage_outage(tmp_path):
    """While the storage is away no lease holder can beat: silence then, and for a grace period and a beat after it
    came back, is not death."""
    study = optuna.create_study()
    study.ask()
    now, down, back = [0.0], [False], [None]

    def calm_for(seconds):
        return not down[0] and (back[0] is None or now[0] - back[0] >= seconds)

    watch = Watch(seconds=10, clock=lambda: now[0], calm_for=calm_for)

    def dead_at(time):
        now[0] = time
        return watch.is_dead(study.trials[0])

    assert dead_at(0) is False
    down[0] = True  # from 10 s
    assert dead_at(21) is False  # silent for more than 2 beats, but during the outage
    down[0], back[0] = False, 25.0
    assert dead_at(40) is False  # back for 15 s: less than 2 beats and one more
    assert [dead_at(56), dead_at(60.5)] == [False, True]  # calm from 55 s; silent 20 s counted from 40 s

    # The watch of a retrying storage asks its outage.
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    on_storage = optuna.create_study(storage=storage, study_name="s")
    on_storage.ask()
    clock = [0.0]
    watch = Watch.on(storage, seconds=10, clock=lambda: clock[0])
    storage.outage.lost(ConnectionError("gone"))
    judged = []
    for clock[0] in (0.0, 100.0):
        judged.append(watch.is_dead(on_storage.trials[0]))
    storage.outage.found()
    clock[0] = 200.0
    judged.append(watch.is_dead(on_storage.trials[0]))  # back less than 30 s ago in real time
    assert judged == [False, False, False]


# A worker on a journal file: asks a trial of study "s" under a search trial's lease (0.5 s), says so, then hangs.
HOLDER = textwrap.dedent(
    """
    import sys, time
    import optuna
    from shapenas.search.fleet.coordination import trial_lease
    from shapenas.search.fleet.storage import open_storage

    storage = open_storage(sys.argv[1], heartbeat_seconds=0.5)
    study = optuna.load_study(study_name="s", storage=storage)
    trial = study.ask({"x": optuna.distributions.IntDistribution(0, 9)})
    with trial_lease(storage, "s", storage.trial_id("s", trial.number)):
        print(trial.number, flush=True)
        time.sleep(600)
    """
)


def test_a_sigkilled_journal_workers_trial_is_failed_and_queued_once_by_another_process(tmp_path):
    url = f"journal:///{tmp_path / 'j.log'}"
    storage = open_storage(url, heartbeat_seconds=0.5)
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "minimize"])
    study.tell(study.ask(X), [0.1, 1.0])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        number = int(holder.stdout.readline())
        running = coordination.search_trials(study, storage, poll_seconds=0.1)
        time.sleep(2)  # 4 beats: the live holder is never taken for dead
        assert [t.number for t in running.alive()] == [number]
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    started = time.monotonic()
    assert wait_for(lambda: not running.alive(), timeout=30)
    assert time.monotonic() - started >= 0.5  # silent for two beats by its clock: the last beat came before the kill
    killed = study.trials[number]
    assert killed.state == TrialState.FAIL and record.read(killed).fail_reason == coordination.LEFT_RUNNING
    assert coordination.fail_dead(study, storage, killed) is False  # a second process that found it dead too
    queued = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(queued) == 1 and record.read(queued[0]).retry_of == number  # queued once, naming what it retries
    assert study.ask(X).params == killed.params  # the same candidate


def test_a_watch_on_a_plain_optuna_storage_takes_the_default_period_and_no_outage():
    watch = Watch.on(optuna.storages.InMemoryStorage())
    assert watch.grace == 2 * 30
    assert Watch.on(in_memory_storage(), seconds=0.5).grace == 1.0
