"""Run a study until it holds `trials` finished trials: presets first, then what the sampler suggests."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from shapenas.config import Config, require_data
from shapenas.evaluators import CostEvaluator, EvaluationFailed, ProxyTrainer
from shapenas.search.objective import Objective
from shapenas.spaces import SearchSpace

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def enqueue_presets(study: optuna.Study, space: SearchSpace) -> None:
    """Baseline and presets go first, so every front can be compared with them."""
    for name, candidate in space.enqueued_presets():
        study.enqueue_trial(space.to_params(candidate), user_attrs={"preset": name}, skip_if_exists=True)


class Progress:
    """One line per event on stderr: trial i of N, each epoch's mAP, the front's size."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream = total, stream
        self.started = time.perf_counter()

    def _print(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.0f}s] {text}", file=self.stream, flush=True)

    def on_epoch(self, trial: optuna.Trial, epoch: int, metrics: dict) -> None:
        self._print(f"trial {trial.number}: epoch {epoch} mAP50-95 {metrics['map50_95']:.4f}")

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = finished_count(study)
        summary = trial.user_attrs.get("summary", "")
        if trial.state == TrialState.COMPLETE:
            outcome = f"mAP50-95 {trial.values[0]:.4f} GFLOPs {trial.values[1]:.3f}"
            outcome += f" (rejected: {trial.user_attrs['rejected']})" if "rejected" in trial.user_attrs else ""
            outcome += f" (same YAML as trial {trial.user_attrs['reused_from']})" if "reused_from" in trial.user_attrs else ""
        else:
            outcome = f"{trial.state.name.lower()}: {trial.user_attrs.get('fail_reason', '')}"
        front = len(study.best_trials)
        self._print(f"trial {trial.number} ({done}/{self.total} done) {summary}: {outcome}; front size {front}")


def make_objective(config: Config, space: SearchSpace, run_dir: Path, progress: Progress) -> Objective:
    proxy = ProxyTrainer(config.proxy, require_data(config))
    cost = CostEvaluator(config.proxy["imgsz"])
    return Objective(space, cost, proxy, config.constraints, run_dir, on_epoch=progress.on_epoch)


def run_trials(study: optuna.Study, config: Config, run_dir: Path, total: int) -> int:
    """Optimise until `total` trials are finished (failed ones are replaced); returns the number finished."""
    space = SearchSpace(config)
    progress = Progress(total)
    objective = make_objective(config, space, run_dir, progress)
    stop_at_total = optuna.study.MaxTrialsCallback(total, states=FINISHED)
    while (missing := total - finished_count(study)) > 0:
        before = finished_count(study)
        study.optimize(objective, n_trials=missing, catch=(EvaluationFailed,), callbacks=[progress, stop_at_total])
        if finished_count(study) == before:  # a whole round failed: more of the same would not help
            break
    return finished_count(study)
