"""What shapenas stores on each Optuna trial, as user attributes: one typed record, one way to write it and read it.

The field names of `TrialRecord` are the stored attribute names, unchanged since the first studies, so every study
made before still loads. Writers call `write(trial, name=value)`, which refuses a name that is not a field; readers
call `read(trial)`. Per-rung early-stopping results are stored as `rung_epoch_<epoch>_map50_95`.

A candidate that breaks a constraint is never trained. It is marked in one way: `rejected` holds why. Optuna still
needs values for the finished trial (its constraint values steer the sampler away), so it gets the placeholder
`rejected_values(costs)`, mAP50-95 0 with its measured costs; no reader may take them for a result: use
`is_trained` / `trained`.

The study attributes that hold trial results live here too: `orphaned_result:<trial number>` (`OrphanedResult`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from shapenas.search.results.study_attrs import ORPHANED_PREFIX, numbered, orphaned_attr
from shapenas.text import count

_RUNG = re.compile(r"rung_epoch_(\d+)_map50_95")


@dataclass(frozen=True)
class TrialRecord:
    """Everything a trial may carry; a field is None (or empty) when the trial did not get that far."""

    # the candidate: written before anything is measured
    key: str | None = None  # digest of the rendered YAML: equal keys, equal models
    summary: str = ""  # one line, e.g. "L1:AKConv(n=5,line_h) L15:DySample(lp,g4)"
    candidate: dict | None = None  # `Candidate.to_dict()`
    yaml: str | None = None  # the model YAML text that was costed and trained
    preset: str | None = None  # "baseline", "akconv_authors": enqueued before the sampler's own
    akconv_shapes: dict | None = None  # per AKConv layer, its sampled points as an ASCII grid
    # cost (`evaluators.CostResult`)
    params: int | None = None
    gflops: float | None = None  # at cost.imgsz (at proxy.imgsz in studies made before the cost section)
    # latency against the base model, when measured (`evaluators.LatencyResult`, `shapenas.latency`)
    latency_ms: float | None = None
    latency_ratio: float | None = None  # the objective: median of per-pair ratios to the base
    latency_base_ms: float | None = None
    latency_backend: str | None = None
    latency_device: str | None = None
    latency_threads: int | None = None
    latency_imgsz: int | None = None
    latency_repeats: int | None = None
    # proxy training (`evaluators.ProxyResult`), or copied from a trained twin
    map50_95: float | None = None
    map50: float | None = None
    epoch_map50_95: list | None = None
    epoch_map50: list | None = None
    train_seconds: float | None = None
    device: str | None = None
    weights: str | None = None  # best.pt of the proxy run, when kept
    layer_init: list | None = None  # warm start: how each layer started from the parent (`LayerInit` dicts)
    artifacts: dict | None = None  # files in the study's artifact store: name ("weights", "yaml") -> id, name, SHA-256
    environment: dict | None = (
        None  # library versions and device it was computed with (`shapenas.search.loop.environment`)
    )
    # how it ended
    rejected: str | None = None  # a constraint refused it (e.g. "gflops 9.1 > max_gflops 8"): never trained
    reused_from: int | None = None  # the number of the trained twin whose result it copied
    retry_of: int | None = None  # the failed trial (dead or interrupted) whose candidate it runs again
    stopped_at_epoch: int | None = None  # early stopping pruned it after this epoch
    fail_reason: str | None = None
    rungs: dict[int, float] = field(default_factory=dict)  # epoch -> mAP50-95 at that early-stopping rung


NAMES = frozenset(f.name for f in fields(TrialRecord)) - {"rungs"}


def rung_attr(epoch: int) -> str:
    return f"rung_epoch_{epoch}_map50_95"


def _check_names(values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - NAMES)
    if unknown:
        raise KeyError(f"not a trial record field: {', '.join(unknown)}")


def attrs(**values: Any) -> dict[str, Any]:
    """User attributes as a dict (e.g. for `study.enqueue_trial`); `KeyError` for a name that is not a field."""
    _check_names(values)
    return values


def write(trial: optuna.Trial, **values: Any) -> None:
    """Store record fields on a running trial; `KeyError` for a name that is not a field."""
    for name, value in attrs(**values).items():
        trial.set_user_attr(name, value)


def write_by_id(storage: BaseStorage, trial_id: int, **values: Any) -> None:
    """Store record fields on a trial this process does not run (it has no `optuna.Trial` for it)."""
    for name, value in attrs(**values).items():
        storage.set_trial_user_attr(trial_id, name, value)


def write_rung(trial: optuna.Trial, epoch: int, map50_95: float) -> None:
    trial.set_user_attr(rung_attr(epoch), map50_95)


def read(trial: optuna.trial.FrozenTrial | optuna.Trial) -> TrialRecord:
    """The record stored on a trial; attributes shapenas does not know are ignored."""
    return from_attrs(trial.user_attrs)


def from_attrs(stored: dict[str, Any]) -> TrialRecord:
    """The record in a trial's user attributes (as `read`), e.g. those of a result kept outside its trial."""
    known = {name: value for name, value in stored.items() if name in NAMES and value is not None}
    # The prefix test first: a regex on every name of every trial showed in scans of 10,000-trial studies.
    rungs = {
        int(match[1]): value
        for name, value in stored.items()
        if name.startswith("rung_") and (match := _RUNG.fullmatch(name))
    }
    return TrialRecord(**known, rungs=rungs)


def rejected_values(costs: tuple[float, ...]) -> tuple[float, ...]:
    """The placeholder objective values of a rejected (never trained) candidate; see the module docstring."""
    return 0.0, *costs


def is_trained(trial: optuna.trial.FrozenTrial) -> bool:
    """Complete with a real result: trained, or reusing a trained twin's result; not rejected by a constraint."""
    # One attribute, not the whole record: this runs on every trial of a study (fronts, twin lookups, tables).
    return trial.state == TrialState.COMPLETE and trial.user_attrs.get("rejected") is None


def trained(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's trained trials (see `is_trained`), in trial order."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if is_trained(t)]


def why_untrained(study: optuna.Study, number: int) -> str:
    """Why trial `number` has no trained result, for an error message: missing, failed (and why), rejected, ..."""
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is None:
        return f"study {study.study_name!r} has no trial {number} ({count(len(study.trials), 'trial')})"
    stored, state = read(trial), trial.state
    if state == TrialState.FAIL:
        retry = next((t.number for t in trained(study) if t.number > number and read(t).key == stored.key), None)
        retried = f"; trial {retry} trained its candidate again" if stored.key and retry is not None else ""
        return f"trial {number} failed ({stored.fail_reason or 'no reason stored'}){retried}"
    if stored.rejected is not None:
        return f"trial {number} was not trained: a constraint rejected it ({stored.rejected})"
    if state == TrialState.PRUNED:
        return f"trial {number} was stopped early at epoch {stored.stopped_at_epoch or '?'}: no final result"
    return f"trial {number} is {state.name.lower()}: not trained yet"


# --- study attributes ---


@dataclass(frozen=True)
class OrphanedResult:
    """A trial's finished result, kept on the study because another process failed the trial meanwhile
    (`shapenas.search.fleet.orphans`): the trial's number, its objective values and its user attributes."""

    trial: int
    values: list[float]
    user_attrs: dict[str, Any]

    @property
    def record(self) -> TrialRecord:
        return from_attrs(self.user_attrs)


def write_orphaned(study: optuna.Study, result: OrphanedResult) -> None:
    study.set_user_attr(orphaned_attr(result.trial), dataclasses.asdict(result))


def read_orphaned(study: optuna.Study) -> list[OrphanedResult]:
    """The study's orphaned results, by trial number."""
    kept = numbered(study.user_attrs, ORPHANED_PREFIX)
    return [OrphanedResult(**kept[number]) for number in sorted(kept)]
