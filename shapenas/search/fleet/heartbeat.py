"""A running trial's heartbeat, and the failing of trials whose process died (their heartbeat went stale).

Optuna keeps a heartbeat only inside `Study.optimize`, in a thread that dies at the first storage error. shapenas
runs its own trial loop (`shapenas.search.loop.trial_run`) and its own heartbeat thread, which
- records the trial's heartbeat every `heartbeat_seconds` (`RDBStorage.record_heartbeat`); after a beat that did not
  get through it tries again every second, so the trial looks alive again soon after an outage;
- never raises: an unreachable storage is told once (`Outage`) and tried again; any other error is told once;
- fails the trials whose heartbeat went stale (Optuna's `fail_stale_trials`, which queues their candidates again), so
  a process waiting for an earlier twin is never stuck behind a dead one.

After an outage every trial's heartbeat looks stale, the live ones' too. So a process that saw the storage away fails
nothing until a grace period and a beat have passed since it came back: live workers have beaten again by then.
"""

from __future__ import annotations

import functools
import sys
import threading
import warnings

import optuna
from optuna.storages import fail_stale_trials

from shapenas.search.fleet.outage import is_transient
from shapenas.search.fleet.retrying import RetryingStorage

RETRY_BEAT_SECONDS = 1.0
JOIN_SLACK_SECONDS = 10.0


def grace_seconds(storage: RetryingStorage) -> int:
    """How long a trial may go without a heartbeat before it counts as dead (`open_storage` sets 2 beats)."""
    assert storage.heartbeat_seconds is not None
    return 2 * storage.heartbeat_seconds


@functools.lru_cache(maxsize=16)
def _study_on_inner(storage: RetryingStorage, study_name: str) -> optuna.Study:
    # `fail_stale_trials` needs a study on the heartbeat storage itself; the retrying wrapper is not one.
    return optuna.load_study(study_name=study_name, storage=storage.inner)


def fail_dead_trials(storage: RetryingStorage, study_name: str, wait: bool = True) -> None:
    """Fail (and queue again) the study's trials whose heartbeat is stale; nothing for storages without one.

    `wait=False`: one try, errors raised (for the heartbeat thread, which must not stall).
    """
    if storage.heartbeat_seconds is None:
        return
    if not storage.outage.calm_for(grace_seconds(storage) + storage.heartbeat_seconds):
        return  # just after an outage, live trials look dead too

    def fail() -> None:
        with warnings.catch_warnings():  # fail_stale_trials is marked experimental; we pin Optuna 5.x
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_stale_trials(_study_on_inner(storage, study_name))

    storage.outage.call(fail) if wait else fail()


class TrialHeartbeat:
    """`with TrialHeartbeat(storage, study_name, trial_id):` keeps the trial alive while the block runs."""

    def __init__(self, storage: RetryingStorage, study_name: str, trial_id: int):
        self.storage, self.study_name, self.trial_id = storage, study_name, trial_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told: set[str] = set()

    def __enter__(self) -> TrialHeartbeat:
        if self.storage.heartbeat_seconds is not None:
            alive = self._beat()  # at once, as Optuna does: the trial is alive from its start
            self._thread = threading.Thread(target=self._run, args=(alive,), name="shapenas-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:  # a beat stuck in a dying connection must not hold up the trial's end
            self._thread.join(timeout=self.storage.heartbeat_seconds + JOIN_SLACK_SECONDS)

    def _run(self, alive: bool) -> None:
        interval = self.storage.heartbeat_seconds
        while not self._stop.wait(interval if alive else min(interval, RETRY_BEAT_SECONDS)):
            alive = self._beat()
            if alive:
                self._guard(lambda: fail_dead_trials(self.storage, self.study_name, wait=False))

    def _beat(self) -> bool:
        """One heartbeat; True when it got through (which also tells that the storage is back)."""
        if not self._guard(lambda: self.storage.inner.record_heartbeat(self.trial_id)):
            return False
        self.storage.outage.found()
        return True

    def _guard(self, action) -> bool:
        """Run `action` without letting any error out of this thread: a heartbeat must never end the process."""
        try:
            action()
        except Exception as error:
            if is_transient(error):
                self.storage.outage.lost(error)
            elif type(error).__name__ not in self._told:
                self._told.add(type(error).__name__)
                print(f"heartbeat: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            return False
        return True
