"""One trial: propose a candidate, cost it, check the constraints, then reuse a trained twin's result or train it.

Everything a user may want later is stored on the trial (`shapenas.search.record.TrialRecord`): the rendered YAML,
params, GFLOPs, mAP50-95, mAP50, per-epoch mAP, train seconds, device, the AKConv shapes as grids, and why it failed
when it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from shapenas.config_schema import ConstraintsConfig
from shapenas.errors import first_line
from shapenas.evaluators import CostResult, EpochMetrics, EvaluationFailed, Evaluator, Job, ProxyResult
from shapenas.search import orphans, record
from shapenas.search.coordination import wait_for_earlier_twins
from shapenas.search.proposal import propose
from shapenas.search.trial_files import upload_trial_files
from shapenas.spaces import SearchSpace
from shapenas.ultralytics.build import model_file_stem


class Objective:
    """The objective of a search trial (`shapenas.search.trial_run`); returns (mAP50-95, GFLOPs)."""

    def __init__(
        self,
        space: SearchSpace,
        cost: Evaluator[CostResult],
        proxy: Evaluator[ProxyResult],
        constraints: ConstraintsConfig,
        run_dir: Path,
        on_epoch: Callable[[optuna.Trial, int, EpochMetrics], None] | None = None,
        classes: int | None = None,
        store=None,
    ):
        self.space, self.cost, self.proxy = space, cost, proxy
        self.limits = constraints.limits()
        self.run_dir = Path(run_dir)
        self.on_epoch = on_epoch
        self.classes = classes
        self.store = store  # an Optuna artifact store for each trial's weights and YAML, or None
        self.model_name = model_file_stem(space.config.base, space.config.scale)

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
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

    def _run(self, trial: optuna.Trial) -> tuple[float, float]:
        proposal = propose(self.space, trial, self.classes)
        record.write(trial, **proposal.record())
        cost = self.cost.evaluate(self._job(trial, proposal.model_yaml))
        record.write(trial, **cost.as_attrs())
        if self._rejected(trial, cost):
            return record.rejected_values(cost.gflops)
        return self._reuse_or_train(trial, proposal.candidate.key(), proposal.model_yaml), cost.gflops

    def _job(self, trial: optuna.Trial, model_yaml: dict) -> Job:
        hook = None if self.on_epoch is None else (lambda epoch, metrics: self.on_epoch(trial, epoch, metrics))
        return Job(model_yaml, self.run_dir / f"trial_{trial.number:04d}", self.model_name, hook)

    def _rejected(self, trial: optuna.Trial, cost: CostResult) -> bool:
        """Sets Optuna constraints (<= 0 is feasible) and records why a candidate is not trained."""
        over = []
        for limit, measured in (("max_gflops", cost.gflops), ("max_params", cost.params)):
            if limit in self.limits:
                trial.set_constraint(limit, float(measured - self.limits[limit]))
                if measured > self.limits[limit]:
                    over.append(f"{limit.removeprefix('max_')} {measured:g} > {limit} {self.limits[limit]:g}")
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
            if record.read(other).key == key and record.is_trained(other):
                return other
        return orphans.find(trial.study, key)
