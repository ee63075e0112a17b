"""One trial: suggest a candidate, render it, cost it, check the constraints, reuse a twin or train it.

Everything a user may want later is stored on the trial as user attributes: the rendered YAML, params, GFLOPs,
mAP50-95, mAP50, per-epoch mAP, train seconds, device, the AKConv shapes as grids, and why it failed when it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import optuna
import yaml
from optuna.trial import TrialState

from shapenas.errors import first_line
from shapenas.evaluators import EvaluationFailed, Evaluator, Job
from shapenas.modules.akconv_shapes import ascii_grid
from shapenas.search.coordination import wait_for_earlier_twins
from shapenas.spaces import SearchSpace
from shapenas.spaces.candidate import Candidate
from shapenas.ultralytics_bridge import model_file_stem

# Attributes copied from a trained twin; the rest (candidate, yaml, preset) are the trial's own.
RESULT_ATTRS = ("map50_95", "map50", "epoch_map50_95", "epoch_map50", "train_seconds", "device", "weights")


def akconv_grids(candidate: Candidate) -> dict[str, str]:
    return {f"L{i}": ascii_grid(c.get("points")) for i, c in candidate.choices if c.module == "AKConv"}


class Objective:
    """Callable for `study.optimize`; returns (mAP50-95, GFLOPs)."""

    def __init__(
        self,
        space: SearchSpace,
        cost: Evaluator,
        proxy: Evaluator,
        constraints: dict,
        run_dir: Path,
        on_epoch: Callable[[optuna.Trial, int, dict], None] | None = None,
        classes: int | None = None,
    ):
        self.space, self.cost, self.proxy = space, cost, proxy
        self.limits = {k: v for k, v in constraints.items() if v is not None}
        self.run_dir = Path(run_dir)
        self.on_epoch = on_epoch
        self.classes = classes
        self.model_name = model_file_stem(space.config.base, space.config.scale)

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        try:
            candidate = self.space.suggest(trial)
            model_yaml = self.space.render(candidate)
            if self.classes is not None:  # the dataset's: the model costed and exported is the one trained
                model_yaml["nc"] = self.classes
            self._describe(trial, candidate, model_yaml)
            return self._score(trial, candidate, model_yaml)
        except EvaluationFailed as error:
            trial.set_user_attr("fail_reason", str(error))
            raise
        except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM (shapenas.interrupts); Optuna then marks it FAIL
            trial.set_user_attr("fail_reason", f"interrupted by {getattr(error, 'signal_name', 'SIGINT')}")
            raise
        except Exception as error:  # not ours to handle: it propagates with its traceback; the trial keeps why
            trial.set_user_attr("fail_reason", f"{type(error).__name__}: {first_line(error)}")
            raise

    def _describe(self, trial: optuna.Trial, candidate: Candidate, model_yaml: dict) -> None:
        trial.set_user_attr("key", candidate.key())
        trial.set_user_attr("summary", candidate.summary())
        trial.set_user_attr("candidate", candidate.to_dict())
        trial.set_user_attr("yaml", yaml.safe_dump(model_yaml, sort_keys=False))
        grids = akconv_grids(candidate)
        if grids:
            trial.set_user_attr("akconv_shapes", grids)

    def _job(self, trial: optuna.Trial, model_yaml: dict) -> Job:
        hook = None if self.on_epoch is None else (lambda epoch, metrics: self.on_epoch(trial, epoch, metrics))
        return Job(model_yaml, self.run_dir / f"trial_{trial.number:04d}", self.model_name, hook)

    def _score(self, trial: optuna.Trial, candidate: Candidate, model_yaml: dict) -> tuple[float, float]:
        cost = self.cost.evaluate(self._job(trial, model_yaml))
        for name, value in cost.items():
            trial.set_user_attr(name, value)
        if self._violates_constraints(trial, cost):
            return 0.0, cost["gflops"]
        # Another process may be training this very candidate: wait for it, then reuse its result or train.
        wait_for_earlier_twins(trial, candidate.key())
        twin = self._trained_twin(trial, candidate.key())
        if twin is not None:
            trial.set_user_attr("reused_from", twin.number)
            for name in RESULT_ATTRS:
                trial.set_user_attr(name, twin.user_attrs.get(name))
            return twin.values[0], cost["gflops"]
        metrics = self.proxy.evaluate(self._job(trial, model_yaml))
        for name, value in metrics.items():
            trial.set_user_attr(name, value)
        return metrics["map50_95"], cost["gflops"]

    def _violates_constraints(self, trial: optuna.Trial, cost: dict) -> bool:
        """Sets Optuna constraints (<= 0 is feasible) and records why a candidate was not trained."""
        over = []
        for limit, measured in (("max_gflops", cost["gflops"]), ("max_params", cost["params"])):
            if limit in self.limits:
                trial.set_constraint(limit, float(measured - self.limits[limit]))
                if measured > self.limits[limit]:
                    over.append(f"{limit.removeprefix('max_')} {measured:g} > {limit} {self.limits[limit]:g}")
        if over:
            trial.set_user_attr("rejected", "; ".join(over))
        return bool(over)

    @staticmethod
    def _trained_twin(trial: optuna.Trial, key: str) -> optuna.trial.FrozenTrial | None:
        """A finished, trained trial of the same YAML (the same candidate is never trained twice)."""
        for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if other.user_attrs.get("key") == key and "rejected" not in other.user_attrs:
                return other
        return None
