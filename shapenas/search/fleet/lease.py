"""The lease: the one rule by which processes sharing a storage tell live work from dead, for every running trial
shapenas keeps (search trials, and the claims behind the parent's maker, the noise runs and verify jobs), on every
storage, journal files included.

- Holding (`Lease`): the process running a trial writes the wall time into the trial's system attribute
  `shapenas:beat` every `seconds`, from a thread. A system attribute is not part of the trial record
  (`search.results.record`). The beat goes straight to the wrapped storage, once: a beat that waited out an outage,
  or was queued behind the trial's other writes (`RetryingStorage.owning`), would say nothing about now.
- Judging (`Watch`): another process counts the trial dead once it has seen the same beat for longer than
  `GRACE_BEATS * seconds` by its own monotonic clock; no two machines' clocks are ever compared. A process that has
  just started therefore needs that long to call anyone dead. Nobody is judged while the storage is away, nor until a
  grace and one beat have passed since it came back (`Outage.calm_for`): during an outage the living cannot beat.
- Queueing (`Running`): trial numbers are handed out atomically, so a study's running trials form a queue. A trial
  waits while a live trial numbered before it may do the same work; dead ones are failed on the way (`bury`, the
  caller's: a search trial's candidate is queued again, a claim's job goes to the next claimant). Trials only ever
  wait for lower numbers, so no two wait for each other.

Optuna itself is imported only where a trial is read: the command line reads the constants to build its `--help`.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from shapenas.search.fleet.outage import is_transient

if TYPE_CHECKING:
    import optuna

    from shapenas.search.fleet.retrying import RetryingStorage

HEARTBEAT_SECONDS = 30  # between two beats of a lease (`--heartbeat`)
GRACE_BEATS = 2  # a lease silent for this many beats is dead
BEAT_ATTR = "shapenas:beat"  # the system attribute a lease's beat is written to
RETRY_BEAT_SECONDS = 1.0  # after a beat that did not get through: soon alive again once the storage is back
JOIN_SLACK_SECONDS = 10.0
POLL_SECONDS = 1.0


class Lease:
    """`with Lease(storage, trial_id, seconds):` keeps trial `trial_id` of `storage` alive while the block runs.

    `after_beat()` runs in the thread after each beat that got through (a search trial's: fail the study's dead
    trials). Never raises: an unreachable storage is told to its `outage` and the beat tried again every second;
    any other error is said once per type on stderr (a claim failed by others, say) and the beat goes on.
    """

    def __init__(
        self,
        storage: RetryingStorage,
        trial_id: int,
        seconds: float | None = None,
        after_beat: Callable[[], Any] | None = None,
    ):
        self.storage, self.trial_id, self.after_beat = storage, trial_id, after_beat
        self.seconds = storage.heartbeat_seconds if seconds is None else seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told: set[str] = set()

    def __enter__(self) -> Lease:
        alive = self._beat()  # alive from the start
        self._thread = threading.Thread(target=self._run, args=(alive,), name="shapenas-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:  # a beat stuck in a dying connection must not hold up the trial's end
            self._thread.join(timeout=self.seconds + JOIN_SLACK_SECONDS)

    def _run(self, alive: bool) -> None:
        while not self._stop.wait(self.seconds if alive else min(self.seconds, RETRY_BEAT_SECONDS)):
            alive = self._beat()
            if alive and self.after_beat is not None:
                self._guard(self.after_beat)

    def _beat(self) -> bool:
        """One beat; True when it got through (which also tells that the storage is back)."""
        inner = self.storage.inner
        if not self._guard(lambda: inner.set_trial_system_attr(self.trial_id, BEAT_ATTR, round(time.time(), 3))):
            return False
        self.storage.outage.found()
        return True

    def _guard(self, action: Callable[[], Any]) -> bool:
        """Run `action` without letting any error out of this thread: a lease must never end the process."""
        try:
            action()
        except Exception as error:
            if is_transient(error):
                self.storage.outage.lost(error)
            elif type(error).__name__ not in self._told:
                self._told.add(type(error).__name__)
                print(f"lease: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            return False
        return True


class Watch:
    """Judges other processes' trials: dead once their beat has not changed for `GRACE_BEATS * seconds`.

    `calm_for(s)`: whether the storage has answered without a break for the last `s` seconds (a retrying storage's
    `outage.calm_for`); while it has not, every trial's silence counts from now."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        calm_for: Callable[[float], bool] | None = None,
    ):
        self.grace, self.clock = GRACE_BEATS * seconds, clock
        self._settle = self.grace + seconds
        self._calm_for = calm_for or (lambda seconds: True)
        self._seen: dict[int, tuple[Any, float]] = {}  # trial number -> (beat, when this process first saw it)

    @classmethod
    def on(cls, storage: RetryingStorage, seconds: float | None = None, clock: Callable[[], float] = time.monotonic):
        """A watch for the trials on `storage`, at its lease period unless `seconds`, aware of its outages. A plain
        Optuna storage (a test's in-memory study) has neither: the default period, and no outage to wait for."""
        seconds = getattr(storage, "heartbeat_seconds", HEARTBEAT_SECONDS) if seconds is None else seconds
        outage = getattr(storage, "outage", None)
        return cls(seconds, clock, calm_for=None if outage is None else outage.calm_for)

    def is_dead(self, trial: optuna.trial.FrozenTrial) -> bool:
        beat, now = trial.system_attrs.get(BEAT_ATTR), self.clock()
        seen = self._seen.get(trial.number)
        if seen is None or seen[0] != beat or not self._calm_for(self._settle):
            self._seen[trial.number] = (beat, now)
            return False
        return now - seen[1] > self.grace


class Running:
    """The running trials of `study`, as one process sees them: those its `watch` finds dead are passed to `bury`,
    which fails them (and whatever else their death means to the caller)."""

    def __init__(
        self,
        study: optuna.Study,
        watch: Watch,
        bury: Callable[[optuna.trial.FrozenTrial], Any],
        poll_seconds: float = POLL_SECONDS,
    ):
        self.study, self.watch, self.bury, self.poll_seconds = study, watch, bury, poll_seconds

    def alive(self) -> list[optuna.trial.FrozenTrial]:
        """The running trials whose lease holds; the dead ones are buried on the way."""
        from optuna.trial import TrialState

        alive = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if self.watch.is_dead(trial):
                self.bury(trial)
            else:
                alive.append(trial)
        return alive

    def wait_for_earlier(
        self,
        number: int,
        same: Callable[[optuna.trial.FrozenTrial], bool],
        done: Callable[[], Any] | None = None,
        on_wait: Callable[[int], Any] | None = None,
    ) -> Any | None:
        """Wait while a live trial numbered before `number` may do the same work (`same(trial)`). `done()`: the
        work's result once there (None before), which ends the wait and is returned; `on_wait(number)` is called
        once if this process waits for trial `number`."""
        told = False
        while True:
            ahead = [trial for trial in self.alive() if trial.number < number and same(trial)]
            # Read after the trials: a trial stores its result before it leaves the running ones.
            if done is not None and (found := done()) is not None:
                return found
            if not ahead:
                return None
            if on_wait is not None and not told:
                on_wait(ahead[0].number)
                told = True
            time.sleep(self.poll_seconds)
