"""Results that came back after their trial had been failed: kept on the study, for the candidate's retry to reuse.

A worker cut off from the storage for longer than the heartbeat grace period may find, when it is back, that another
process failed its trial (the heartbeat went stale) and queued the candidate again. A failed trial cannot be written
to, and overwriting another process's FAIL would let the trial count twice. So a finished result goes to a study
attribute, `orphaned_result:<trial number>`, where the twin reuse (`Objective._trained_twin`) finds it: the retried
candidate, or any later trial of the same candidate, completes with this result instead of training again. The budget
is as if the first process had died: the failed trial does not count, the trial that reuses the result counts once.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

PREFIX = "orphaned_result:"


def keep(study: optuna.Study, number: int, values: list[float], user_attrs: dict[str, Any]) -> bool:
    """Store trial `number`'s finished result on the study; False when there is nothing worth reusing."""
    if "key" not in user_attrs or "rejected" in user_attrs:  # never trained: the retry costs it again in seconds
        return False
    study.set_user_attr(f"{PREFIX}{number}", {"trial": number, "values": list(values), "user_attrs": user_attrs})
    return True


def find(study: optuna.Study, key: str) -> FrozenTrial | None:
    """A kept result of the candidate `key`, as a finished trial numbered like the failed one that trained it."""
    kept = [record for name, record in study.user_attrs.items() if name.startswith(PREFIX)]
    for record in sorted(kept, key=lambda record: record["trial"]):
        if record["user_attrs"].get("key") == key:
            trial = optuna.trial.create_trial(
                state=TrialState.COMPLETE, values=record["values"], user_attrs=record["user_attrs"]
            )
            trial.number = record["trial"]
            return trial
    return None
