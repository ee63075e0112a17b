"""Whether the process holding a claim (`search.fleet.claims`) is still alive: its heartbeat, and the rule others
judge it by. Claims only: a trial's liveness is Optuna's heartbeat on RDB storages (`shapenas.search.fleet.heartbeat`,
which fails stale trials) and `fail_left_running` on journal files, so two rules decide liveness today (issue 19).

The holder writes the wall time into its claim's user attribute `beat` every `seconds`, from a thread. Another process
counts the holder dead once it has seen the same `beat` for longer than `2 * seconds` by its own monotonic clock: no
two machines' clocks are ever compared, and it works on every storage (journal files included, which have no Optuna
heartbeat). A process that has just started therefore needs that long to call a claim dead. Nor is anyone judged
while the storage is away or within that long and a beat after it came back (`shapenas.search.fleet.outage`): during an
outage no claimant can beat, live ones included.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

import optuna

from shapenas.search.fleet.claim_attrs import BEAT_ATTR
from shapenas.search.fleet.retrying import RetryingStorage

GRACE_BEATS = 2  # a claim silent for this many heartbeats is dead
JOIN_SLACK_SECONDS = 10.0


class Heartbeat:
    """`with Heartbeat(trial, seconds):` keeps the claim `trial` alive while the block runs. Never raises: a beat that
    fails (storage away, the claim already failed by others) is said once on stderr and tried again."""

    def __init__(self, trial: optuna.Trial, seconds: float):
        self.trial, self.seconds = trial, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shapenas-claim-heartbeat", daemon=True)
        self._told: set[str] = set()

    def __enter__(self) -> Heartbeat:
        self._beat()  # alive from the start
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + JOIN_SLACK_SECONDS)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            self._beat()

    def _beat(self) -> None:
        try:
            self.trial.set_user_attr(BEAT_ATTR, round(time.time(), 3))
        except Exception as error:  # a heartbeat must never end the process
            if type(error).__name__ not in self._told:
                self._told.add(type(error).__name__)
                print(f"claim heartbeat: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


class DeathWatch:
    """Judges other processes' claims: dead once their `beat` has not changed for `GRACE_BEATS * seconds`.

    `calm_for(s)`: whether the storage has answered without a break for the last `s` seconds (a retrying storage's
    `outage.calm_for`); while it has not, every claim's silence counts from now."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        calm_for: Callable[[float], bool] | None = None,
    ):
        self.grace, self.clock = GRACE_BEATS * seconds, clock
        self._settle = self.grace + seconds
        self._calm_for = calm_for or (lambda seconds: True)
        self._seen: dict[int, tuple[Any, float]] = {}  # claim number -> (beat, when this process first saw it)

    @classmethod
    def on(cls, storage: RetryingStorage, seconds: float, clock: Callable[[], float] = time.monotonic) -> DeathWatch:
        """A watch for claims on `storage`, aware of its outages."""
        return cls(seconds, clock, calm_for=storage.outage.calm_for)

    def is_dead(self, claim: optuna.trial.FrozenTrial) -> bool:
        beat, now = claim.user_attrs.get(BEAT_ATTR), self.clock()
        seen = self._seen.get(claim.number)
        if seen is None or seen[0] != beat or not self._calm_for(self._settle):
            self._seen[claim.number] = (beat, now)
            return False
        return now - seen[1] > self.grace
