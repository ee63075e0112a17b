"""Results that came back after their trial had been failed: kept on the study, for the candidate's retry to reuse.

A worker cut off from the storage for longer than the lease's grace period may find, when it is back, that another
process failed its trial (its lease went silent) and queued the candidate again. A failed trial cannot be written
to, and overwriting another process's FAIL would let the trial count twice. So a finished result goes to a study
attribute, `orphaned_result:<trial number>` (`record.OrphanedResult`), where the twin reuse
(`Objective._trained_twin`) finds it: the retried candidate, or any later trial of the same candidate, completes with
this result instead of training again. The budget is as if the first process had died: the failed trial does not
count, the trial that reuses the result counts once."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from shapenas.search.results import record


def keep(study: optuna.Study, number: int, values: list[float], user_attrs: dict[str, Any]) -> bool:
    """Store trial `number`'s finished result on the study; False when there is nothing worth reusing."""
    result = record.OrphanedResult(number, list(values), user_attrs)
    if result.record.key is None or result.record.rejected is not None:  # never trained: a retry costs it in seconds
        return False
    record.write_orphaned(study, result)
    return True


def find(study: optuna.Study, key: str) -> FrozenTrial | None:
    """A kept result of the candidate `key`, as a finished trial numbered like the failed one that trained it."""
    for result in record.read_orphaned(study):
        if result.record.key == key:
            trial = optuna.trial.create_trial(
                state=TrialState.COMPLETE, values=result.values, user_attrs=result.user_attrs
            )
            trial.number = result.trial
            return trial
    return None
