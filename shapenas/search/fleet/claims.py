"""Jobs that exactly one of the processes sharing a storage does, while the others wait for its result; a dead
claimant's job is taken over. Used for a study's parent and for each `verify` job (trial, seed, budget).

The claims live in a companion study of the search (`<study>:shapenas-parent`, `<study>:shapenas-verify`) on the same
storage, so they reach every machine the study reaches. To claim a job a process asks that study for a trial (its
claim), names the job on it (user attribute `job`) and keeps it alive with a heartbeat (`search.fleet.liveness`).
Trial numbers are handed out atomically, so the claims form a queue: a claim waits while a live claim numbered
before it names the same job or has not named one yet (it is about to); a claim found dead is failed, which lets
the next one through. Trials only ever wait for lower numbers, so no two wait for each other. The first claim through
does the work, stores the result on itself (user attribute `result`) and completes with value 1; the others find
the result and complete with value 0.

Every read and write goes through the storage it is given; a retrying storage (`search.fleet.retrying`) waits out
an outage, and no claim is judged dead just after one (`shapenas.search.fleet.liveness`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from shapenas.search.fleet.claim_attrs import JOB_ATTR, RESULT_ATTR
from shapenas.search.fleet.liveness import DeathWatch, Heartbeat
from shapenas.search.fleet.outage import StorageUnavailable

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Outcome:
    """A job's result, and whether this process did the work."""

    result: Any
    worked: bool


class Claims:
    """The claims of one companion study `name` on `storage`; `heartbeat_seconds` paces every claim's heartbeat."""

    def __init__(self, storage, name: str, heartbeat_seconds: float = 30, poll_seconds: float = POLL_SECONDS):
        # A claim suggests nothing: the random sampler keeps `ask` from reading the claims' history.
        sampler = optuna.samplers.RandomSampler()
        self.study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, sampler=sampler)
        self.heartbeat_seconds, self.poll_seconds = heartbeat_seconds, poll_seconds
        self._watch = DeathWatch.on(storage, heartbeat_seconds)

    def results(self) -> dict[str, Any]:
        """Every finished job's result, by job name (one read of the storage)."""
        found = {}
        for claim in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if RESULT_ATTR in claim.user_attrs:
                found[claim.user_attrs[JOB_ATTR]] = claim.user_attrs[RESULT_ATTR]
        return found

    def result(self, job: str) -> Any | None:
        return self.results().get(job)

    def running_jobs(self) -> set[str]:
        """The jobs some process holds a claim on right now (dead claimants included until someone fails them)."""
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return {claim.user_attrs[JOB_ATTR] for claim in running if JOB_ATTR in claim.user_attrs}

    def once(
        self,
        job: str,
        work: Callable[[], Any],
        finished: Callable[[], Any | None] | None = None,
        on_wait: Callable[[int], None] | None = None,
    ) -> Outcome:
        """`work()`'s result for `job`, computed by exactly one process. `finished()` returns the result once the job
        is done (None before; default: a claim's stored result); `on_wait(number)` is called once if this process waits
        for claim `number`. An exception in `work` fails the claim (the next claimant tries) and propagates."""
        finished = finished or (lambda: self.result(job))
        if (found := finished()) is not None:
            return Outcome(found, False)
        with warnings.catch_warnings():  # claims keep their own heartbeat, not Optuna's (which needs optimize)
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
            claim = self.study.ask()
        try:
            with Heartbeat(claim, self.heartbeat_seconds):
                claim.set_user_attr(JOB_ATTR, job)
                found = self._wait_for_earlier(claim.number, job, finished, on_wait)
                if found is None:
                    found = Outcome(work(), True)
                    self._store(claim, found.result)
        except StorageUnavailable:
            raise  # failing the claim would wait for the storage again: its silent heartbeat lets the next one in
        except BaseException:
            self._fail(claim.number)
            raise
        self.study.tell(claim, 1.0 if found.worked else 0.0, skip_if_finished=True)
        return found

    def _wait_for_earlier(self, number: int, job: str, finished, on_wait) -> Outcome | None:
        """Wait while a live claim numbered before `number` may be doing `job`; its result if one appeared."""
        told = False
        while True:
            ahead = self._ahead(number, job)
            # Read after the claims: a claimant stores its result before it leaves the running ones.
            if (found := finished()) is not None:
                return Outcome(found, False)
            if not ahead:
                return None
            if on_wait is not None and not told:
                on_wait(ahead[0].number)
                told = True
            time.sleep(self.poll_seconds)

    def _ahead(self, number: int, job: str) -> list[optuna.trial.FrozenTrial]:
        """Live claims numbered before `number` that name `job` or no job yet; dead ones are failed on the way."""
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        earlier = [c for c in running if c.number < number and c.user_attrs.get(JOB_ATTR, job) == job]
        alive = []
        for claim in earlier:
            if self._watch.is_dead(claim):
                self._fail(claim.number)
            else:
                alive.append(claim)
        return alive

    def _store(self, claim: optuna.Trial, result: Any) -> None:
        try:
            claim.set_user_attr(RESULT_ATTR, result)
        except UpdateFinishedTrialError:  # taken for dead meanwhile: the process that took over stores its own
            pass

    def _fail(self, number: int) -> None:
        try:
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        except (UpdateFinishedTrialError, ValueError):  # another process failed it first
            pass
