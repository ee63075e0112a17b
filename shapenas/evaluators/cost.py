"""Parameters and GFLOPs of a candidate at the proxy's image size, without training it."""

from __future__ import annotations

from shapenas.cost import model_cost
from shapenas.evaluators.base import CostResult, EvaluationFailed, Evaluator, Job, checked_model_yaml
from shapenas.ultralytics.build import BuildError, build_model


class CostEvaluator(Evaluator[CostResult]):
    def __init__(self, imgsz: int):
        self.imgsz = imgsz

    def evaluate(self, job: Job) -> CostResult:
        try:
            model = build_model(checked_model_yaml(job))
        except BuildError as error:
            raise EvaluationFailed(f"build error: {error}") from None
        cost = model_cost(model, self.imgsz)
        return CostResult(params=cost.params, gflops=round(cost.gflops, 6))
