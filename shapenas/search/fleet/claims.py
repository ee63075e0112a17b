"""Jobs that exactly one of the processes sharing a storage does, while the others wait for its result; a dead
claimant's job is taken over. Used for a study's parent and for each `verify` job (trial, seed, budget).

The claims live in a companion study of the search (`<study>:shapenas-parent`, `<study>:shapenas-verify`) on the same
storage, so they reach every machine the study reaches. To claim a job a process asks that study for a trial (its
claim), names the job on it (user attribute `job`) and holds it with a lease (`search.fleet.lease`). The claims
queue by number as every lease holder does (`lease.Running`): a claim waits while a live claim numbered before it
names the same job or has not named one yet (it is about to); a claim found dead is failed, which lets the next one
through. The first claim through does the work, stores the result on itself (user attribute `result`) and completes
with value 1; the others find the result and complete with value 0.

Every read and write goes through the storage it is given; a retrying storage (`search.fleet.retrying`) waits out
an outage, and no claim is judged dead during or just after one (`shapenas.search.fleet.lease`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from shapenas.search.fleet.claim_attrs import JOB_ATTR, RESULT_ATTR
from shapenas.search.fleet.lease import POLL_SECONDS, Lease, Running, Watch
from shapenas.search.fleet.outage import StorageUnavailable


@dataclass(frozen=True)
class Outcome:
    """A job's result, and whether this process did the work."""

    result: Any
    worked: bool


class Claims:
    """The claims of one companion study `name` on `storage` (a `RetryingStorage`); `heartbeat_seconds` paces every
    claim's lease (None: the storage's lease period)."""

    def __init__(self, storage, name: str, heartbeat_seconds: float | None = None, poll_seconds: float = POLL_SECONDS):
        # A claim suggests nothing: the random sampler keeps `ask` from reading the claims' history.
        sampler = optuna.samplers.RandomSampler()
        self.study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, sampler=sampler)
        self.storage = storage
        self.heartbeat_seconds = storage.heartbeat_seconds if heartbeat_seconds is None else heartbeat_seconds
        watch = Watch.on(storage, self.heartbeat_seconds)
        self._running = Running(self.study, watch, lambda claim: self._fail(claim.number), poll_seconds)

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
        claim = self.study.ask()
        try:
            with Lease(
                self.storage, self.storage.trial_id(self.study.study_name, claim.number), self.heartbeat_seconds
            ):
                claim.set_user_attr(JOB_ATTR, job)
                found = self._wait_for_earlier(claim.number, job, finished, on_wait)
                if found is None:
                    found = Outcome(work(), True)
                    self._store(claim, found.result)
        except StorageUnavailable:
            raise  # failing the claim would wait for the storage again: its silent lease lets the next one in
        except BaseException:
            self._fail(claim.number)
            raise
        self.study.tell(claim, 1.0 if found.worked else 0.0, skip_if_finished=True)
        return found

    def _wait_for_earlier(self, number: int, job: str, finished, on_wait) -> Outcome | None:
        """Wait while a live claim numbered before `number` names `job` or no job yet; its result if one appeared."""
        found = self._running.wait_for_earlier(
            number, lambda claim: claim.user_attrs.get(JOB_ATTR, job) == job, finished, on_wait
        )
        return None if found is None else Outcome(found, False)

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
