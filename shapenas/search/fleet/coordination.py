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

A trial whose process died is failed by the first process whose lease watch (`shapenas.search.fleet.lease`) finds
it silent for two beats, which queues its candidate again, once however many processes find it together: by a
process waiting for room or for a twin, and by the lease thread of every process running a trial. The rule is the
same on every storage, journal files included, so `resume` fails nothing at once: it waits like any other process.
"""

from __future__ import annotations

import sys
import time

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from shapenas.errors import ShapenasError
from shapenas.search.fleet.lease import GRACE_BEATS, POLL_SECONDS, Lease, Running, Watch
from shapenas.search.fleet.retrying import RetryingStorage
from shapenas.search.results import record
from shapenas.text import count

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_REQUEUES = 3  # a candidate whose process died more often than this is not queued again: it may kill it
NOT_RUN = "not run: "  # how the `fail_reason` of a trial failed by `check_budget` starts
LEFT_RUNNING = "left running by a stopped process"  # the `fail_reason` of a trial whose lease ran out
INTERRUPTED = "interrupted by "  # how the `fail_reason` of a trial stopped by Ctrl-C or SIGTERM starts


class OverBudget(ShapenasError):
    """This trial was asked for after others had already claimed the whole budget; it is failed untrained."""


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def wait_for_room(trials: Running, total: int) -> None:
    """Return once `total` trials of `trials.study` are finished, or once a new trial could still count towards it.

    Dead processes' trials are failed on the way (`trials`), so their places free up.
    """
    told = False
    while True:
        # Only running trials are elsewhere: a waiting (enqueued) trial is what this process's next ask takes.
        in_flight = trials.alive()
        finished = finished_count(trials.study)
        if finished >= total or finished + len(in_flight) < total:
            return
        if not told:
            numbers = ", ".join(str(t.number) for t in in_flight)
            print(f"waiting: {finished}/{total} finished, trials {numbers} in flight elsewhere", file=sys.stderr)
            told = True
        time.sleep(trials.poll_seconds)


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


def wait_for_earlier_twins(trial: optuna.Trial, key: str, poll_seconds: float = POLL_SECONDS) -> None:
    """Block while a live trial numbered before this one may be training the candidate `key` (see above)."""

    def tell(number: int) -> None:
        print(f"trial {trial.number}: waiting for trial {number} (same or unannounced candidate)", file=sys.stderr)

    twins = search_trials(trial.study, trial.storage, poll_seconds)
    twins.wait_for_earlier(trial.number, lambda other: record.read(other).key in (None, key), on_wait=tell)


def queue_again(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial's candidate again (its params), keeping the preset name it ran under and naming the trial
    it retries (a sampled twin of the same candidate is not a retry)."""
    if any(other.user_attrs.get("retry_of") == trial.number for other in study.get_trials(deepcopy=False)):
        return  # queued already: by another process that also took the FAIL for its own (an answer lost in an outage)
    preset = record.read(trial).preset
    named = {"preset": preset} if preset is not None else {}
    study.enqueue_trial(trial.params, user_attrs=record.attrs(retry_of=trial.number, **named))


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


def search_trials(study: optuna.Study, storage: RetryingStorage, poll_seconds: float = POLL_SECONDS) -> Running:
    """The running trials of `study` (stored in `storage`) under the lease rule: the dead ones are failed and their
    candidates queued again (`fail_dead`)."""
    return Running(study, Watch.on(storage), lambda trial: fail_dead(study, storage, trial), poll_seconds)


def fail_dead(study: optuna.Study, storage: BaseStorage, trial: optuna.trial.FrozenTrial) -> bool:
    """Fail `trial` (its lease ran out) and queue its candidate again; False when another process failed it first.

    Only the process whose FAIL got through queues, so the candidate is queued once however many found it dead.
    """
    try:
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(study.study_name), trial.number
        )
        record.write_by_id(storage, trial_id, fail_reason=LEFT_RUNNING)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    died = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if _died_as(t, trial)]
    if len(died) <= MAX_REQUEUES:
        queue_again(study, trial)
    return True


def _died_as(failed: optuna.trial.FrozenTrial, trial: optuna.trial.FrozenTrial) -> bool:
    return failed.params == trial.params and record.read(failed).fail_reason == LEFT_RUNNING


def trial_lease(storage: RetryingStorage, study_name: str, trial_id: int) -> Lease:
    """The lease of a search trial this process runs: after each beat it also fails the study's dead trials, one try
    per read and write (on the wrapped storage: the lease thread must not wait out an outage)."""
    watch, inner = Watch.on(storage), storage.inner
    running: list[Running] = []  # made in the thread, on its first beat: loading the study reads the storage

    def bury_the_dead() -> None:
        if not running:
            study = optuna.load_study(study_name=study_name, storage=inner)
            running.append(Running(study, watch, lambda trial: fail_dead(study, inner, trial)))
        running[0].alive()

    return Lease(storage, trial_id, after_beat=bury_the_dead)


def note_running(study: optuna.Study, storage: RetryingStorage) -> None:
    """For `resume`: say that the trials still running are not failed at once, but once their lease runs out."""
    running = [str(t.number) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if running:
        grace = GRACE_BEATS * storage.heartbeat_seconds
        print(
            f"trials still running: {', '.join(running)}; those whose process stopped are failed, and their "
            f"candidates queued again, once silent for {grace:g} s ({GRACE_BEATS} heartbeats)"
        )
