"""A candidate: which module goes in each changed slot, with its hyperparameters. Frozen, hashable, JSON-able.

Slots left as in the base (`Conv`, `nn.Upsample`) are not stored, so two candidates are equal exactly when they
render to the same model YAML, and `key()` is a digest of that content. A choice's `label` (e.g. the AKConv shape
family a set of points came from) is for people only: it is excluded from equality and from the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shapenas.modules.registry import KINDS, MODULES

STOCK_MODULES = tuple(KINDS.values())  # ("Conv", "nn.Upsample"): a slot left as in the base


def _frozen(value: Any) -> Any:
    """Lists (from JSON) -> tuples, recursively, so a choice stays hashable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Choice:
    """One slot's module and its hyperparameters (in the order they appear in the YAML row after c2)."""

    module: str
    params: tuple[tuple[str, Any], ...] = ()
    label: str = field(default="", compare=False)

    @classmethod
    def of(cls, module: str, label: str = "", **params: Any) -> Choice:
        return cls(module, tuple((name, _frozen(value)) for name, value in params.items()), label)

    def get(self, name: str) -> Any:
        return dict(self.params)[name]

    def to_dict(self) -> dict:
        data = {"module": self.module, **{name: _jsonable(value) for name, value in self.params}}
        return {**data, "label": self.label} if self.label else data

    @classmethod
    def from_dict(cls, data: dict) -> Choice:
        data = dict(data)
        return cls.of(data.pop("module"), data.pop("label", ""), **data)

    def describe(self) -> str:
        """Short text for summaries (the registry's `summary`): AKConv(n=5,line_h), ODConv(K4), SPConv(r0.5),
        DynamicConv(E4), DySample(lp,g4); a module no longer registered shows its parameters as they are."""
        spec = MODULES.get(self.module)
        if spec is None:
            return f"{self.module}({','.join(f'{k}={v}' for k, v in self.params)})"
        return spec.describe(dict(self.params), self.label)


@dataclass(frozen=True)
class Candidate:
    """The changed slots, as `(layer index, Choice)` pairs sorted by layer index."""

    choices: tuple[tuple[int, Choice], ...] = ()

    def __post_init__(self) -> None:
        # one canonical form: sorted by layer, stock choices dropped (they are the base's rows)
        kept = tuple(sorted((int(i), c) for i, c in self.choices if c.module not in STOCK_MODULES))
        indices = [i for i, _ in kept]
        if len(set(indices)) != len(indices):
            raise ValueError(f"Candidate: a layer is chosen twice, got layers {indices}")
        object.__setattr__(self, "choices", kept)

    @classmethod
    def of(cls, choices: dict[int, Choice]) -> Candidate:
        return cls(tuple(choices.items()))

    def choice_at(self, index: int) -> Choice | None:
        return dict(self.choices).get(index)

    def to_dict(self) -> dict:
        """JSON-able: {"choices": {"<layer>": {"module": ..., <params>...}}}."""
        return {"choices": {str(i): c.to_dict() for i, c in self.choices}}

    @classmethod
    def from_dict(cls, data: dict) -> Candidate:
        return cls(tuple((int(i), Choice.from_dict(c)) for i, c in data.get("choices", {}).items()))

    def key(self) -> str:
        """A stable digest of what the YAML holds (labels excluded): equal YAMLs, equal keys."""
        content = [[i, c.module, [[name, _jsonable(v)] for name, v in c.params]] for i, c in self.choices]
        return hashlib.sha1(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def summary(self) -> str:
        """One line, e.g. `L1:AKConv(n=5,line_h) L15:DySample(lp,g4)`; `baseline` when nothing changes."""
        return " ".join(f"L{i}:{c.describe()}" for i, c in self.choices) or "baseline"
