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


def checked_model_yaml(job: Job) -> dict:
    """The job's model YAML once `shapenas.model_yaml` found it safe to build; `EvaluationFailed` otherwise."""
    from shapenas.errors import UserError
    from shapenas.model_yaml import check_model_yaml

    try:
        check_model_yaml(job.model_yaml, "model YAML")
    except UserError as error:
        raise EvaluationFailed(f"refused: {error}") from None
    return job.model_yaml


class Evaluator(ABC):
    """Scores a job; returns a flat dict of JSON-able metrics, or raises `EvaluationFailed`."""

    @abstractmethod
    def evaluate(self, job: Job) -> dict[str, Any]:
        """Score `job.model_yaml`."""
