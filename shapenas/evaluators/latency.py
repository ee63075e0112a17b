"""Latency of a candidate against the base model, measured before any training (see `shapenas.latency`)."""

from __future__ import annotations

from typing import Any

from shapenas.evaluators.base import EvaluationFailed, Evaluator, Job
from shapenas.latency import Latency, LatencyMeter, LatencySettings
from shapenas.ultralytics.build import BuildError, build_model


class LatencyEvaluator(Evaluator):
    """Times each job's model interleaved with `base_yaml`'s (built, fused and, for ONNX Runtime, exported once, on
    the first job). `evaluate` returns `Latency.attrs()` (`latency_ms`, `latency_ratio`, ...); `measure` the typed
    `Latency`."""

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

    def evaluate(self, job: Job) -> dict[str, Any]:
        return self.measure(job.model_yaml).attrs()
