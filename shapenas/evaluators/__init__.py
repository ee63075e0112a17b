"""Evaluators score a rendered model YAML; the search does not know how (see `base.Evaluator`)."""

from shapenas.evaluators.base import CostResult, EpochMetrics, EvaluationFailed, Evaluator, Job, ProxyResult
from shapenas.evaluators.cost import CostEvaluator
from shapenas.evaluators.latency import LatencyEvaluator
from shapenas.evaluators.proxy import ProxyTrainer

__all__ = [
    "CostEvaluator",
    "CostResult",
    "EpochMetrics",
    "EvaluationFailed",
    "Evaluator",
    "Job",
    "LatencyEvaluator",
    "ProxyResult",
    "ProxyTrainer",
]
