"""Run a study until it holds `trials` finished trials: presets first, then what the sampler suggests."""

from __future__ import annotations

import sys
import time

import optuna
from optuna.trial import TrialState

from shapenas.config import Config
from shapenas.data.check import class_count
from shapenas.devices import resolve_device
from shapenas.evaluators import (
    CostEvaluator,
    EpochMetrics,
    EvaluationFailed,
    LatencyEvaluator,
    ProxyTrainer,
    latency_settings,
)
from shapenas.search.fleet.coordination import (
    OverBudget,
    check_budget,
    finished_count,
    is_over_budget,
    queue_interrupted,
    search_trials,
    wait_for_room,
)
from shapenas.search.fleet.pending import pending_folder
from shapenas.search.fleet.retrying import RetryingStorage
from shapenas.search.loop.context import StudyContext
from shapenas.search.loop.early_stopping import ParetoRankStopper
from shapenas.search.loop.environment import environment, note_differences
from shapenas.search.loop.noise_runs import ensure_noise
from shapenas.search.loop.objective import Evaluators, Hooks, Objective
from shapenas.search.loop.proposal import render
from shapenas.search.loop.trial_run import run_trial
from shapenas.search.results import record
from shapenas.search.results.noise import study_noise
from shapenas.search.results.objectives import Objectives
from shapenas.search.results.running_front import RunningFront
from shapenas.spaces import SearchSpace
from shapenas.text import count


def enqueue_presets(study: optuna.Study, space: SearchSpace) -> None:
    """Baseline and presets go first, so every front can be compared with them."""
    for name, candidate in space.enqueued_presets():
        study.enqueue_trial(space.to_params(candidate), user_attrs=record.attrs(preset=name), skip_if_exists=True)


class Progress:
    """One line per event on stderr: a trial starts training, each epoch's mAP, trial i of N done, the front's size."""

    def __init__(self, total: int, objectives: Objectives, stream=None):
        self.total, self.objectives = total, objectives
        self.front: RunningFront | None = None  # made on the first trial: it needs the study
        self.stream = stream or sys.stderr  # looked up now, not at import: the stderr of this run
        self.started = time.perf_counter()

    def _print(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.0f}s] {text}", file=self.stream, flush=True)

    def on_train(self, trial: optuna.Trial, epochs: int) -> None:
        self._print(f"trial {trial.number}: training {record.read(trial).summary} ({count(epochs, 'epoch')})")

    def on_epoch(self, trial: optuna.Trial, epoch: int, metrics: EpochMetrics) -> None:
        self._print(f"trial {trial.number}: epoch {epoch} mAP50-95 {metrics.map50_95:.4f}")

    def _outcome(self, trial: optuna.trial.FrozenTrial) -> str:
        stored = record.read(trial)
        if trial.state == TrialState.PRUNED:
            return f"stopped early at epoch {stored.stopped_at_epoch or '?'} (Pareto rank)"
        if trial.state != TrialState.COMPLETE:
            return f"{trial.state.name.lower()}: {stored.fail_reason or ''}"
        if stored.rejected is not None:
            return f"not trained, rejected: {stored.rejected} ({self.objectives.costs_text(trial.values[1:])})"
        outcome = f"mAP50-95 {trial.values[0]:.4f} {self.objectives.costs_text(trial.values[1:])}"
        if stored.latency_ms is not None:
            outcome += f" ({stored.latency_ms:.1f} ms)"
        return outcome + (f" (same YAML as trial {stored.reused_from})" if stored.reused_from is not None else "")

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.front = self.front or RunningFront(study)
        done, front = finished_count(study), self.front.size()
        stored = record.read(trial)
        self._print(
            f"trial {trial.number} ({done}/{self.total} done) {stored.summary}: {self._outcome(trial)}; "
            f"front size {front}"
        )
        if stored.preset == "baseline" and record.is_trained(trial) and (noise := study_noise(study)) is not None:
            self._print(noise.describe())  # the baseline trial is the noise figure's last sample


def _epoch_hook(config: Config, progress: Progress, storage: RetryingStorage | None):
    """After each proxy epoch: the progress line, then Pareto-rank early stopping when the config asks for it.

    Early stopping reads the other trials; while the storage is away it is skipped, so training never waits for it.
    """
    search = config.search
    if search.early_stop != "pareto_rank":
        return progress.on_epoch
    stopper = ParetoRankStopper(
        config.proxy.epochs, search.early_stop_rungs, search.early_stop_worst, Objectives.of(config)
    )

    def on_epoch(trial: optuna.Trial, epoch: int, metrics: EpochMetrics) -> None:
        progress.on_epoch(trial, epoch, metrics)
        if storage is None or not storage.outage.is_down:
            stopper(trial, epoch, metrics)

    return on_epoch


def make_objective(context: StudyContext, space: SearchSpace, progress: Progress) -> Objective:
    """The objective of `context`'s trials: candidates start from its parent (None: from scratch) and keep their
    weights and YAML in its store (None: on this machine only); storage outages pause early stopping."""
    config, classes = context.config, class_count(context.data)
    inherit = {} if context.parent is None else {"parent": context.parent.model, "probe": context.parent.probe}
    proxy = ProxyTrainer(config.proxy, context.data, **inherit)
    evaluators = Evaluators(CostEvaluator(config.cost.imgsz), proxy, latency_evaluator(config, space, classes))
    hooks = Hooks(
        on_epoch=_epoch_hook(config, progress, context.storage),
        on_train=lambda trial: progress.on_train(trial, config.proxy.epochs),
    )
    return Objective(
        space,
        Objectives.of(config),
        config.constraints,
        evaluators,
        context.run_dir,
        hooks=hooks,
        classes=classes,
        store=context.store,
    )


def latency_evaluator(config: Config, space: SearchSpace, classes: int | None) -> LatencyEvaluator | None:
    """Times candidates against the base model, when latency is an objective or a constraint (else None)."""
    if not config.measures_latency:
        return None
    return LatencyEvaluator(render(space, space.baseline(), classes), latency_settings(config.cost))


def _before_trials(context: StudyContext) -> None:
    """What a process does once before its first trial: queue interrupted trials again, say whether it computes
    unlike the study's creator, measure the proxy's noise."""
    study, config = context.study, context.config
    sys.stderr.write("".join(f"trial {n} was interrupted: queued again\n" for n in queue_interrupted(study)))
    note_differences(environment(resolve_device(config.proxy.device)), study.user_attrs, study.study_name)
    ensure_noise(context)


def run_trials(context: StudyContext, total: int, space: SearchSpace | None = None) -> int:
    """Optimise `context.study` until `total` trials are finished (failed ones are replaced); returns the number
    finished.

    The results its storage missed while away (`pending`) are the caller's to write first
    (`commands.common.study_context`). Interrupted trials nobody retried are queued again. Other processes may work
    on the study at the same time, one trial at a time, each within the budget (`shapenas.search.fleet.coordination`):
    the study ends with exactly `total` finished trials. `space`: the config's, when built already (that builds the
    base model).
    """
    _before_trials(context)
    study, storage, run_dir = context.study, context.storage, context.run_dir
    space = SearchSpace(context.config) if space is None else space
    progress = Progress(total, Objectives.of(context.config))
    objective = make_objective(context, space, progress)

    def within_budget(trial: optuna.Trial) -> tuple[float, ...]:
        check_budget(trial, total)
        return objective(trial)

    failures_in_a_row, running = 0, search_trials(study, storage)
    while (missing := total - finished_count(study)) > 0 and failures_in_a_row < missing:
        wait_for_room(running, total)
        if finished_count(study) >= total:
            break
        last = run_trial(study, storage, within_budget, (EvaluationFailed, OverBudget), pending_folder(run_dir))
        progress(study, last)
        # Stop when every one of the last `missing` trials failed: more of the same would not help.
        failures_in_a_row = failures_in_a_row + 1 if last.state == TrialState.FAIL and not is_over_budget(last) else 0
    return finished_count(study)
