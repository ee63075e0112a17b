"""How processes sharing one study split its budget and avoid training one candidate twice at the same time.

Every process (a `search`, a `resume`, any number of `worker`s, on any machines) runs the same rules against the
shared storage; there is no coordinator to crash:

- The budget is exact. Before asking for a trial, a process waits while the finished trials plus those in flight
  (running) already cover it: a running trial may still fail and need replacing. Two processes can pass
  that check together, so after asking, a trial also counts the trials numbered before it that did not fail; if
  they cover the budget, it is failed at once without training ("not run: ..."). Trial numbers are handed out under
  a lock by Optuna, so the earliest claims win and the study never holds more finished trials than the budget.
- A candidate is trained once. A trial first announces its candidate (`key`), then waits for every running trial
  numbered before it that has not announced yet or announced the same key (the bakery algorithm, with trial numbers
  as tickets); afterwards it reuses a trained twin's result or, when the twin failed, trains. Trials only ever wait
  for earlier numbers, so no two wait for each other.

Trials whose heartbeat went stale (their process died) are failed, which queues them again: by a process waiting for
room, and by the heartbeat thread of every process running a trial (`shapenas.search.fleet.heartbeat`). Journal storages
have no heartbeat: a dead process's trial stays running until `shapenas resume` fails it.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Callable

import optuna
from optuna.trial import TrialState

from shapenas.errors import ShapenasError
from shapenas.search.results import record
from shapenas.text import count

if TYPE_CHECKING:
    from shapenas.search.fleet.retrying import RetryingStorage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
POLL_SECONDS = 1.0
NOT_RUN = "not run: "  # how the `fail_reason` of a trial failed by `check_budget` starts
LEFT_RUNNING = "left running by a stopped process"
INTERRUPTED = "interrupted by "  # how the `fail_reason` of a trial stopped by Ctrl-C or SIGTERM starts


class OverBudget(ShapenasError):
    """This trial was asked for after others had already claimed the whole budget; it is failed untrained."""


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def wait_for_room(
    study: optuna.Study, total: int, poll_seconds: float = POLL_SECONDS, fail_dead: Callable[[], None] | None = None
) -> None:
    """Return once `total` trials are finished, or once a new trial could still count towards `total`.

    `fail_dead()` fails the trials of dead processes (their heartbeat is stale), so their places free up.
    """
    told = False
    while True:
        if fail_dead is not None:
            fail_dead()
        finished = finished_count(study)
        # Only running trials are elsewhere: a waiting (enqueued) trial is what this process's next ask takes.
        in_flight = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if finished >= total or finished + len(in_flight) < total:
            return
        if not told:
            numbers = ", ".join(str(t.number) for t in in_flight)
            print(f"waiting: {finished}/{total} finished, trials {numbers} in flight elsewhere", file=sys.stderr)
            told = True
        time.sleep(poll_seconds)


def check_budget(trial: optuna.Trial, total: int) -> None:
    """`OverBudget` when the trials numbered before this one, failed ones aside, already make up `total`."""
    trials = trial.study.get_trials(deepcopy=False)
    ahead = [t for t in trials if t.number < trial.number and t.state != TrialState.FAIL]
    if len(ahead) >= total:
        message = f"{NOT_RUN}the budget of {count(total, 'finished trial')} was already claimed by other processes"
        record.write(trial, fail_reason=message)
        raise OverBudget(message)


def is_over_budget(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and str(record.read(trial).fail_reason or "").startswith(NOT_RUN)


def _blocking_twins(trial: optuna.Trial, key: str) -> list[optuna.trial.FrozenTrial]:
    running = trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t for t in running if t.number < trial.number and record.read(t).key in (None, key)]


def wait_for_earlier_twins(trial: optuna.Trial, key: str, poll_seconds: float = POLL_SECONDS) -> None:
    """Block while a running trial numbered before this one may be training the candidate `key` (see above)."""
    told = False
    while blocking := _blocking_twins(trial, key):
        if not told:
            print(
                f"trial {trial.number}: waiting for trial {blocking[0].number} (same or unannounced candidate)",
                file=sys.stderr,
            )
            told = True
        time.sleep(poll_seconds)  # a dead twin is failed by the heartbeat thread of this very trial


def queue_again(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial's candidate again (its params), keeping the preset name it ran under."""
    preset = record.read(trial).preset
    study.enqueue_trial(trial.params, user_attrs=record.attrs(preset=preset) if preset is not None else None)


def _params(trial: optuna.trial.FrozenTrial) -> dict:
    return trial.system_attrs.get("fixed_params", trial.params)  # a queued trial has its params there, as Optuna's


def _interrupted(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and str(record.read(trial).fail_reason or "").startswith(INTERRUPTED)


def queue_interrupted(study: optuna.Study) -> list[int]:
    """Queue again the candidate of every interrupted trial that no later trial retries; returns their numbers.

    The interrupted process queues its trial's candidate itself (`trial_run`); this catches the trials it could not
    (a second signal while closing it) and those of studies made before it did, so a preset is never lost for good.
    """
    trials = study.get_trials(deepcopy=False)
    queued = []
    for trial in trials:
        if _interrupted(trial) and not any(t.number > trial.number and _params(t) == trial.params for t in trials):
            queue_again(study, trial)
            queued.append(trial.number)
    return queued


def fail_left_running(study: optuna.Study, storage: RetryingStorage) -> list[int]:
    """For storages without a heartbeat (journal files): fail every running trial and queue its candidate again.

    Only right when no other process works on the study (`resume` after a crash); returns the failed numbers.
    """
    if storage.heartbeat_seconds is not None:  # the heartbeat tells dead trials from live ones; nothing to guess
        return []
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record.write_by_id(storage, storage.trial_id(study.study_name, trial.number), fail_reason=LEFT_RUNNING)
        study.tell(trial.number, state=TrialState.FAIL)
        queue_again(study, trial)
        failed.append(trial.number)
    return failed
