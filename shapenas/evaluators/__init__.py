"""Evaluators score a rendered model YAML; the search does not know how (see `base.Evaluator`)."""

from shapenas.evaluators.base import (
    CostResult,
    EpochMetrics,
    EvaluationFailed,
    Evaluator,
    Job,
    LatencyResult,
    ProxyResult,
)
from shapenas.evaluators.cost import CostEvaluator
from shapenas.evaluators.latency import LatencyEvaluator, latency_settings
from shapenas.evaluators.proxy import ProxyTrainer

__all__ = [
    "CostEvaluator",
    "CostResult",
    "EpochMetrics",
    "EvaluationFailed",
    "Evaluator",
    "Job",
    "LatencyEvaluator",
    "LatencyResult",
    "ProxyResult",
    "ProxyTrainer",
    "latency_settings",
]
