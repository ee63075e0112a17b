"""The one interface every evaluator implements, `evaluate(job) -> result`, and the typed results they return.

The objective stores a result's fields on the trial under the same names (`search.results.record.TrialRecord`), and
a result's fields are all it relies on: `CostResult` gives the GFLOPs objective and the constraints' inputs,
`LatencyResult` the latency objective (its ratio to the base) and the latency constraint's input, `ProxyResult` the
mAP50-95 objective and what a twin trial copies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from shapenas.errors import ShapenasError, UserError


class EvaluationFailed(ShapenasError):
    """The candidate could not be scored (NaN loss, out of memory, build error); the message is stored on the trial."""


@dataclass(frozen=True)
class EpochMetrics:
    """Validation after one proxy epoch, handed to `Job.on_epoch`."""

    map50_95: float
    map50: float


@dataclass
class Job:
    """What an evaluator gets: the model to score, a folder of its own, and a hook called after each epoch.

    `on_epoch(epoch, metrics)` may raise to stop the evaluation early (the search's early stopping does).
    """

    model_yaml: dict
    folder: Path
    name: str = "candidate"
    on_epoch: Callable[[int, EpochMetrics], None] | None = field(default=None, repr=False)


class _Result:
    """Shared by the result types: their field names, and their fields as a JSON-able dict."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def as_attrs(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class CostResult(_Result):
    """Parameters and GFLOPs of the built candidate, at the evaluator's image size."""

    params: int
    gflops: float


@dataclass(frozen=True)
class LatencyResult(_Result):
    """A candidate's latency against the base model (`shapenas.latency.Latency`, each field prefixed `latency_`)."""

    latency_ms: float
    latency_ratio: float
    latency_base_ms: float
    latency_backend: str
    latency_device: str
    latency_threads: int
    latency_imgsz: int
    latency_repeats: int


@dataclass(frozen=True)
class ProxyResult(_Result):
    """A proxy training's outcome: final and per-epoch validation mAP, time, device, kept weights, and how each layer
    started when the candidate inherited from a parent."""

    map50_95: float
    map50: float
    epoch_map50_95: list[float]
    epoch_map50: list[float]
    train_seconds: float
    device: str
    weights: str | None
    layer_init: list[dict] | None = None  # how each layer started from the parent (LayerInit dicts); None: scratch


Result = TypeVar("Result", bound=_Result)


def checked_model_yaml(job: Job) -> dict:
    """The job's model YAML once `shapenas.model_yaml` found it safe to build; `EvaluationFailed` otherwise."""
    from shapenas.model_yaml import check_model_yaml

    try:
        check_model_yaml(job.model_yaml, "model YAML")
    except UserError as error:
        raise EvaluationFailed(f"refused: {error}") from None
    return job.model_yaml


class Evaluator(ABC, Generic[Result]):
    """Scores a job: returns its typed result, or raises `EvaluationFailed` with the reason."""

    @abstractmethod
    def evaluate(self, job: Job) -> Result:
        """Score `job.model_yaml`."""
