"""One trial: propose a candidate, cost it (GFLOPs, and latency when asked), check the constraints, then reuse a
trained twin's result or train it.

Everything a user may want later is stored on the trial (`search.results.record.TrialRecord`): the rendered YAML,
params, GFLOPs, latency, mAP50-95, mAP50, per-epoch mAP, train seconds, device, the AKConv shapes as grids, and why it
failed when it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from shapenas.config_schema import ConstraintsConfig
from shapenas.devices import resolve_device
from shapenas.errors import first_line
from shapenas.evaluators import CostResult, EpochMetrics, EvaluationFailed, Evaluator, Job, LatencyResult, ProxyResult
from shapenas.search.fleet import orphans
from shapenas.search.fleet.coordination import wait_for_earlier_twins
from shapenas.search.loop.environment import environment
from shapenas.search.loop.proposal import propose
from shapenas.search.results import record
from shapenas.search.results.objectives import Objectives
from shapenas.search.results.trial_files import upload_trial_files
from shapenas.spaces import SearchSpace
from shapenas.ultralytics.build import model_file_stem


@dataclass(frozen=True)
class Evaluators:
    """What a trial measures a candidate with: `cost` (params, GFLOPs), `proxy` (the short training) and `latency`
    (times it against the base model; None: latency is neither an objective nor a constraint)."""

    cost: Evaluator[CostResult]
    proxy: Evaluator[ProxyResult]
    latency: Evaluator[LatencyResult] | None = None


@dataclass(frozen=True)
class Hooks:
    """Progress hooks: `on_epoch` after each proxy epoch, `on_train` as a candidate starts training (the setup before
    its first epoch is long; a rejected or reused one never trains)."""

    on_epoch: Callable[[optuna.Trial, int, EpochMetrics], None] | None = None
    on_train: Callable[[optuna.Trial], None] | None = None


class Objective:
    """The objective of a search trial (`shapenas.search.loop.trial_run`); returns the values of `objectives`: mAP50-95,
    then GFLOPs and/or the latency ratio. `classes`: the dataset's class count (None: the base's); `store`: an Optuna
    artifact store for each trial's weights and YAML (None: kept on this machine only)."""

    def __init__(
        self,
        space: SearchSpace,
        objectives: Objectives,
        constraints: ConstraintsConfig,
        evaluators: Evaluators,
        run_dir: Path,
        *,
        hooks: Hooks = Hooks(),
        classes: int | None = None,
        store=None,
    ):
        self.space, self.objectives, self.limits = space, objectives, constraints.limits()
        self.cost, self.proxy, self.latency = evaluators.cost, evaluators.proxy, evaluators.latency
        self.run_dir = Path(run_dir)
        self.on_epoch, self.on_train = hooks.on_epoch, hooks.on_train
        self.classes, self.store = classes, store
        self.model_name = model_file_stem(space.config.base, space.config.scale)

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            return self._run(trial)
        except EvaluationFailed as error:
            record.write(trial, fail_reason=str(error))
            raise
        except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM (shapenas.interrupts); Optuna then marks it FAIL
            record.write(trial, fail_reason=f"interrupted by {getattr(error, 'signal_name', 'SIGINT')}")
            raise
        except Exception as error:  # not ours to handle: it propagates with its traceback; the trial keeps why
            record.write(trial, fail_reason=f"{type(error).__name__}: {first_line(error)}")
            raise

    def _run(self, trial: optuna.Trial) -> tuple[float, ...]:
        proposal = propose(self.space, trial, self.classes)
        device = resolve_device(self.space.config.proxy.device)
        record.write(trial, **proposal.record(), environment=environment(device))
        measured = self._measure(trial, proposal.model_yaml)
        costs = self.objectives.cost_values(measured)
        if self._rejected(trial, measured):
            return record.rejected_values(costs)
        return self._reuse_or_train(trial, proposal.candidate.key(), proposal.model_yaml), *costs

    def _measure(self, trial: optuna.Trial, model_yaml: dict) -> dict:
        """Params, GFLOPs and, when asked, latency of the candidate, stored on the trial before any training."""
        job = self._job(trial, model_yaml)
        measured = self.cost.evaluate(job).as_attrs()
        if self.latency is not None:
            measured.update(self.latency.evaluate(job).as_attrs())
        record.write(trial, **measured)
        return measured

    def _job(self, trial: optuna.Trial, model_yaml: dict) -> Job:
        hook = None if self.on_epoch is None else (lambda epoch, metrics: self.on_epoch(trial, epoch, metrics))
        return Job(model_yaml, self.run_dir / f"trial_{trial.number:04d}", self.model_name, hook)

    def _rejected(self, trial: optuna.Trial, measured: dict) -> bool:
        """Sets Optuna constraints (<= 0 is feasible) and records why a candidate is not trained."""
        over = []
        for limit, value in self.limits.items():
            field = limit.removeprefix("max_")  # max_gflops -> gflops, max_latency_ms -> latency_ms
            trial.set_constraint(limit, float(measured[field] - value))
            if measured[field] > value:
                over.append(f"{field} {measured[field]:g} > {limit} {value:g}")
        if over:
            record.write(trial, rejected="; ".join(over))
        return bool(over)

    def _reuse_or_train(self, trial: optuna.Trial, key: str, model_yaml: dict) -> float:
        """mAP50-95 of the candidate: a trained twin's, or from training it here."""
        # Another process may be training this very candidate: wait for it, then reuse its result or train.
        wait_for_earlier_twins(trial, key)
        twin = self._trained_twin(trial, key)
        if twin is not None:
            copied = {name: getattr(record.read(twin), name) for name in (*ProxyResult.names(), "artifacts")}
            record.write(trial, reused_from=twin.number, **copied)
            return twin.values[0]
        job = self._job(trial, model_yaml)
        if self.on_train is not None:
            self.on_train(trial)
        result = self.proxy.evaluate(job)
        record.write(trial, **result.as_attrs())
        if self.store is not None:  # weights and YAML where every machine finds them
            upload_trial_files(self.store, trial, {"weights": result.weights, "yaml": job.folder / f"{job.name}.yaml"})
        return result.map50_95

    @staticmethod
    def _trained_twin(trial: optuna.Trial, key: str) -> optuna.trial.FrozenTrial | None:
        """A finished, trained trial of the same YAML (the same candidate is never trained twice), or the result of
        one that finished after another process had failed it during a storage outage (`orphans`)."""
        for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            # the key first, read alone: building every trial's record took 0.14 s a trial at 10,000 trials
            if other.user_attrs.get("key") == key and record.is_trained(other):
                return other
        return orphans.find(trial.study, key)
