"""The one interface every evaluator implements: `evaluate(job) -> metrics`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from shapenas.errors import ShapenasError


class EvaluationFailed(ShapenasError):
    """The candidate could not be scored (NaN loss, out of memory, build error); the message is stored on the trial."""


@dataclass
class Job:
    """What an evaluator gets: the model to score, a folder of its own, and a hook called after each epoch.

    `on_epoch(epoch, metrics)` may raise to stop the evaluation early (the search's early stopping does).
    """

    model_yaml: dict
    folder: Path
    name: str = "candidate"
    on_epoch: Callable[[int, dict], None] | None = field(default=None, repr=False)


class Evaluator(ABC):
    """Scores a job; returns a flat dict of JSON-able metrics, or raises `EvaluationFailed`."""

    @abstractmethod
    def evaluate(self, job: Job) -> dict[str, Any]:
        """Score `job.model_yaml`."""
