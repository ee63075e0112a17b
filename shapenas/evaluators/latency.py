"""Latency of a candidate against the base model, measured before any training (see `shapenas.latency`)."""

from __future__ import annotations

import dataclasses

from shapenas.config_schema import CostConfig
from shapenas.errors import UserError
from shapenas.evaluators.base import EvaluationFailed, Evaluator, Job, LatencyResult, checked_model_yaml
from shapenas.latency import Latency, LatencyMeter, LatencySettings
from shapenas.ultralytics.build import BuildError, build_model


def latency_settings(cost: CostConfig) -> LatencySettings:
    """The latency settings of a config's `cost` section; `UserError` for what only this machine can refuse (a CUDA
    index it does not have)."""
    try:
        return LatencySettings(
            **cost.arguments([field.name for field in dataclasses.fields(LatencySettings)], "latency_")
        )
    except ValueError as error:
        raise UserError(f"cost: {error}") from None


class LatencyEvaluator(Evaluator[LatencyResult]):
    """Times each job's model interleaved with `base_yaml`'s (built, fused and, for ONNX Runtime, exported once, on
    the first job). `evaluate` returns the `LatencyResult` a trial stores; `measure` the `Latency` of a model YAML."""

    def __init__(self, base_yaml: dict, settings: LatencySettings):
        self.base_yaml = base_yaml
        self.settings = settings
        self._meter: LatencyMeter | None = None

    def measure(self, model_yaml: dict) -> Latency:
        try:
            model = build_model(model_yaml)
        except BuildError as error:
            raise EvaluationFailed(f"build error: {error}") from None
        if self._meter is None:
            self._meter = LatencyMeter(build_model(self.base_yaml), self.settings)
        return self._meter.measure(model)

    def evaluate(self, job: Job) -> LatencyResult:
        return LatencyResult(**self.measure(checked_model_yaml(job)).attrs())
