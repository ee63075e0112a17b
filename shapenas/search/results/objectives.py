"""A study's objectives: mAP50-95 first, then one or two costs (GFLOPs, latency), as `search.objectives` names them.

Everything that reads objective values (the front, its table and plots, export, early stopping, verify) asks this
module which value is which, so two and three objectives take the same paths. A cost objective's value is also
stored on the trial (`TrialRecord.gflops`, `.latency_ratio`), so early stopping can read it before the trial ends.
Latency enters as the ratio to the base model measured in the same process (`shapenas.latency`), not as
milliseconds: the ratio holds on a shared, noisy machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shapenas.config import Config


@dataclass(frozen=True)
class ObjectiveSpec:
    key: str  # as `search.objectives` spells it
    direction: str  # Optuna's
    field: str  # the `TrialRecord` field that holds the value
    unit: str  # what the value is, for tables and axes: "{imgsz}" is the size it was measured at

    def label(self, imgsz: int) -> str:
        return self.unit.format(imgsz=imgsz)


SPECS = {
    "map50_95": ObjectiveSpec("map50_95", "maximize", "map50_95", "mAP50-95"),
    "gflops": ObjectiveSpec("gflops", "minimize", "gflops", "GFLOPs@{imgsz}"),
    "latency": ObjectiveSpec("latency", "minimize", "latency_ratio", "latency/base@{imgsz}"),
}


@dataclass(frozen=True)
class Objectives:
    """The objectives of one study, in order, and the image size its costs were measured at."""

    keys: tuple[str, ...]
    imgsz: int

    @classmethod
    def of(cls, config: Config) -> Objectives:
        return cls(tuple(config.search.objectives), config.cost.imgsz)

    @property
    def specs(self) -> list[ObjectiveSpec]:
        return [SPECS[key] for key in self.keys]

    @property
    def costs(self) -> tuple[str, ...]:
        """The cost objectives' keys (all but mAP50-95)."""
        return self.keys[1:]

    @property
    def directions(self) -> list[str]:
        return [spec.direction for spec in self.specs]

    @property
    def names(self) -> list[str]:
        """Metric names as Optuna stores them (`study.set_metric_names`) and tables print them."""
        return [spec.label(self.imgsz) for spec in self.specs]

    def name(self, key: str) -> str:
        return SPECS[key].label(self.imgsz)

    @property
    def cost_fields(self) -> list[str]:
        """The `TrialRecord` fields that hold the cost objectives' values, in order."""
        return [SPECS[key].field for key in self.costs]

    def cost_values(self, measured: dict[str, float]) -> tuple[float, ...]:
        """The cost objectives' values, in order, from what was measured by record field (`gflops`, `latency_ratio`)."""
        return tuple(measured[field] for field in self.cost_fields)

    def costs_text(self, values: Sequence[float]) -> str:
        """The cost objectives' values with their names, e.g. "GFLOPs@640 8.196, latency/base@640 1.017"."""
        return ", ".join(f"{self.name(key)} {value:.3f}" for key, value in zip(self.costs, values, strict=True))
