"""One trial from ask to tell, as Optuna's `Study.optimize` runs it, but safe when the storage goes away.

Optuna's loop tells a trial's result in a `finally` that assumes the storage answers; when it does not, Optuna itself
fails (`UnboundLocalError: updated_state`), the trial stays RUNNING and its training is lost. Here:
1. ask; a lease keeps the trial alive (`fleet.lease`), and writes to it never wait (`RetryingStorage.owning`),
   so training goes on through an outage;
2. the objective's outcome is COMPLETE (its values), PRUNED, or FAIL: an exception in `catch`, or any other, which
   is raised again once the trial is closed (as Optuna does, Ctrl-C included); an interrupted trial (Ctrl-C,
   SIGTERM) has its candidate queued again, so the next `resume`, `worker` or `search` retries it;
3. the end is written once the storage answers (`pending.deliver`); past the retry window it is saved to a local
   file (`pending.save`) and `StorageUnavailable` says where. A failed trial's traceback is logged at INFO (`-v`).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Callable, NoReturn

import optuna
from optuna.trial import FrozenTrial, TrialState

from shapenas.search.fleet.coordination import trial_lease
from shapenas.search.fleet.outage import StorageUnavailable
from shapenas.search.fleet.pending import WRITTEN, TrialEnd, deliver, save
from shapenas.search.fleet.retrying import RetryingStorage
from shapenas.search.results import record

_logger = logging.getLogger(__name__)
Objective = Callable[[optuna.Trial], "tuple[float, ...] | list[float]"]


def _outcome(objective: Objective, trial: optuna.Trial, catch: tuple[type[Exception], ...]):
    """(state, values, error to raise again once the trial is closed); `StorageUnavailable` passes through."""
    try:
        values = [float(value) for value in objective(trial)]
    except optuna.TrialPruned:
        return TrialState.PRUNED, None, None
    except StorageUnavailable:
        raise
    except (Exception, KeyboardInterrupt) as error:
        if not isinstance(error, KeyboardInterrupt):
            _logger.info("trial %d failed: %r", trial.number, error, exc_info=error)
        return TrialState.FAIL, None, None if isinstance(error, catch) else error
    if not all(math.isfinite(value) for value in values):  # Optuna's tell would fail it too
        record.write(trial, fail_reason=f"the objective returned {values}")
        return TrialState.FAIL, None, None
    return TrialState.COMPLETE, values, None


def _give_up(end: TrialEnd, folder: Path, error: StorageUnavailable) -> NoReturn:
    path = save(end, folder)
    raise StorageUnavailable(
        f"{error}; trial {end.number} saved to {path}: the next worker, resume or search started in this folder "
        f"writes it"
    ) from None


def _abandoned(study_name: str, trial: optuna.Trial, writes: list, error: StorageUnavailable) -> TrialEnd:
    reason = [["user", name, value] for name, value in record.attrs(fail_reason=f"given up: {error}").items()]
    return TrialEnd.of(study_name, trial, TrialState.FAIL, None, [*writes, *reason], requeue=True)


def run_trial(
    study: optuna.Study,
    storage: RetryingStorage,
    objective: Objective,
    catch: tuple[type[Exception], ...],
    pending: Path,
) -> FrozenTrial:
    """Run one trial of `study` (stored in `storage`) and return it as stored; see the module's docstring."""
    trial = study.ask()
    name = study.study_name
    try:
        trial_id = storage.trial_id(name, trial.number)
    except StorageUnavailable as error:
        _give_up(_abandoned(name, trial, [], error), pending, error)
    with trial_lease(storage, name, trial_id):
        with storage.owning(trial_id):
            try:
                state, values, error = _outcome(objective, trial, catch)
            except StorageUnavailable as lost:
                _give_up(_abandoned(name, trial, storage.queued(), lost), pending, lost)
            # An interrupted trial is retried by the next process, as a dead one is: its candidate is queued again.
            interrupted = isinstance(error, KeyboardInterrupt)
            end = TrialEnd.of(name, trial, state, values, storage.queued(), requeue=interrupted)
        try:
            told = deliver(study, storage, end, trial_id)
        except StorageUnavailable as lost:
            _give_up(end, pending, lost)
    if told != WRITTEN:
        print(
            f"trial {trial.number}: another process failed it while the storage was away; this process's "
            f"{end.state} result is {told}",
            file=sys.stderr,
            flush=True,
        )
    if error is not None:
        raise error
    return storage.get_trial(trial_id)
