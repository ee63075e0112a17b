"""Every key of the search config, one line each: its type, its default and its check.

A section is a frozen dataclass whose fields are its keys, each declared with `setting(default, check)`. The config's
defaults (`config_defaults`), its checks by dotted key (`config_validators`), the form a study stores (`to_dict`)
and the typed object commands read (`config.proxy.epochs`) all come from those lines, so a new key is one line in its
section. `space` holds one section per registered module (`space.<config_key>`: `enabled`, then the keys its
ModuleSpec searches), made from the registry. `shapenas.config` merges a file and `--set` overrides onto the
defaults, refuses unknown keys, runs the checks and builds the sections.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shapenas import config_checks as checks
from shapenas.errors import UserError
from shapenas.modules.akconv_shapes import FREE_SHAPE
from shapenas.modules.registry import MODULES, ModuleSpec

PRESETS = ("baseline", "akconv_authors")
SAMPLERS = ("nsga2", "tpe", "random")
_CHECK = "check"  # where a field keeps its check (dataclass field metadata)


def setting(default: Any, check: checks.Validator) -> Any:
    """A config key of a section: its default (a fresh copy for each config when it is a list or mapping), and the
    check its value goes through."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={_CHECK: check})
    return dataclasses.field(default=default, metadata={_CHECK: check})


def _default(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _keys(section: Any) -> list[dataclasses.Field]:
    """The fields of a section (class or instance) made with `setting`."""
    return [field for field in dataclasses.fields(section) if _CHECK in field.metadata]


class Section:
    """Base of the config sections: frozen dataclasses whose fields, made with `setting`, are their keys."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {field.name: _default(field) for field in _keys(cls)}

    @classmethod
    def validators(cls, prefix: str) -> dict[str, checks.Validator]:
        """The check of each key, by dotted key (`prefix` names the section, e.g. "proxy.")."""
        return {prefix + field.name: field.metadata[_CHECK] for field in _keys(cls)}

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Section:
        """The section from values that passed their checks; keys left out take their defaults."""
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The section as a config file spells it (and a study stores it)."""
        return {field.name: copy.deepcopy(getattr(self, field.name)) for field in _keys(self)}

    def arguments(self, names: Iterable[str], prefix: str = "") -> dict[str, Any]:
        """Keyword arguments `names` from this section's keys: each from `<prefix><name>` when the section has that
        key, else from `<name>` (`cost.latency_repeats` gives `repeats`, `cost.imgsz` gives `imgsz`)."""
        keys = {field.name for field in _keys(self)}
        return {name: getattr(self, prefix + name if prefix + name in keys else name) for name in names}


@dataclass(frozen=True)
class ConstraintsConfig(Section):
    """Limits a candidate must meet to be trained (None: no limit); GFLOPs and latency at `cost.imgsz`."""

    max_gflops: float | None = setting(None, checks.optional(checks.number(0.0)))
    max_params: float | None = setting(None, checks.optional(checks.number(0.0)))
    max_latency_ms: float | None = setting(None, checks.optional(checks.number(0.0)))

    def limits(self) -> dict[str, float]:
        """The limits that are set, by key name."""
        return {name: value for name, value in self.to_dict().items() if value is not None}


@dataclass(frozen=True)
class CostConfig(Section):
    """How a candidate's cost is measured, as users deploy it: GFLOPs and latency at `imgsz` (training stays at
    `proxy.imgsz`). Latency (`shapenas.latency`), when an objective or a constraint asks for it: batch 1, fused, on
    `device` (auto, cpu or a CUDA index; fp16 on CUDA), `latency_warmup` untimed runs, then the median of
    `latency_repeats` timed runs interleaved with the base model's; `latency_threads` null: torch's setting."""

    imgsz: int = setting(640, checks.integer(32, 4096, multiple_of=32))
    device: str | int = setting("auto", checks.cost_device)
    latency_backend: str = setting("torch", checks.one_of("torch", "onnxruntime"))
    latency_repeats: int = setting(20, checks.integer(1))
    latency_warmup: int = setting(3, checks.integer(0))
    latency_threads: int | None = setting(None, checks.optional(checks.integer(1)))


@dataclass(frozen=True)
class ProxyConfig(Section):
    """The short training that scores each candidate (`train_args`: further Ultralytics train arguments)."""

    epochs: int = setting(3, checks.integer(1))
    imgsz: int = setting(160, checks.integer(32, 4096, multiple_of=32))
    batch: int = setting(16, checks.integer(1))
    fraction: float = setting(1.0, checks.number(0.0, 1.0))
    seed: int = setting(0, checks.integer(0))
    device: str = setting("auto", checks.device)
    workers: int = setting(0, checks.integer(0))
    cache: bool | str = setting(False, checks.one_of(False, True, "ram", "disk"))
    train_args: dict[str, Any] = setting({}, checks.train_args)
    # Warm starts: every candidate starts from a parent (`train`: the base trained once per study; or a checkpoint)
    init: str = setting("scratch", checks.one_of("scratch", "parent"))
    parent: str = setting("train", checks.text)
    parent_epochs: int = setting(10, checks.integer(1))
    parent_args: dict[str, Any] = setting({}, checks.train_args)
    # BatchNorm's running statistics in the fine-tune: `train` updates them (Ultralytics' way), `frozen` keeps the
    # inherited ones, so a few augmented batches do not replace half of what the parent learnt
    bn: str = setting("train", checks.one_of("train", "frozen"))
    # The baseline's proxy trained with this many more seeds, once per study: the noise every comparison is read
    # against (`shapenas.search.results.noise`); 0 turns it off
    noise_seeds: int = setting(2, checks.integer(0))


@dataclass(frozen=True)
class SearchConfig(Section):
    """How many trials, the objectives (`objectives`: mAP50-95, then GFLOPs and/or latency), the sampler, early
    stopping, and the candidates enqueued first (`presets`)."""

    trials: int = setting(8, checks.integer(1))
    objectives: list[str] = setting(["map50_95", "gflops"], checks.objectives)
    sampler: str = setting("nsga2", checks.one_of(*SAMPLERS))
    seed: int | None = setting(0, checks.optional(checks.integer(0)))
    early_stop: str = setting("off", checks.off_or("pareto_rank"))
    early_stop_rungs: list[float] = setting([0.111, 0.333], checks.list_of(checks.number(0.0, 1.0)))
    early_stop_worst: float = setting(0.5, checks.number(0.0, 1.0))
    presets: list[str] = setting(list(PRESETS), checks.list_of(checks.one_of(*PRESETS), allow_empty=True))
    akconv_authors_n: int = setting(5, checks.integer(2, 64))


# What a module's searched key holds, by the kind of values it accepts (`Values.kind` in shapenas.modules.registry).
_VALUE_TYPES = {
    "ints": list[int],
    "numbers": list[float],
    "choices": list,
    "int_range": list[int],
    "int": int,
    "flag": bool,
}


@functools.cache
def module_section(spec: ModuleSpec) -> type[Section]:
    """The class of a module's `space.<config_key>` section: `enabled`, then each key its ModuleSpec searches, with
    the spec's default and a check made from what the key accepts."""
    fields = [("enabled", bool, setting(True, checks.boolean))]
    for key in spec.searched:
        default = list(key.default) if isinstance(key.default, tuple) else key.default
        value_type = _VALUE_TYPES[key.values.kind]
        fields.append((key.key, value_type, setting(default, checks.values_check(key.values))))
    return dataclasses.make_dataclass(f"{spec.name}Section", fields, bases=(Section,), frozen=True)


def _module_sections() -> dict[str, type[Section]]:
    return {spec.config_key: module_section(spec) for spec in MODULES.values()}


@dataclass(frozen=True)
class SpaceConfig(Section):
    """Where modules may go (`slots`: group names and/or layer indices) and, per registered module, whether it is
    searched and with which values (`modules`, by config key: `config.space.modules["akconv"].num_param`)."""

    slots: list[int | str] = setting(["all"], checks.slots)
    modules: Mapping[str, Section] = dataclasses.field(default_factory=dict)  # not a key: the sections below it

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {**super().defaults(), **{key: section.defaults() for key, section in _module_sections().items()}}

    @classmethod
    def validators(cls, prefix: str) -> dict[str, checks.Validator]:
        found = super().validators(prefix)
        for key, section in _module_sections().items():
            found.update(section.validators(f"{prefix}{key}."))
        return found

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> SpaceConfig:
        sections = _module_sections()
        modules = {key: section.from_values(values.get(key, {})) for key, section in sections.items()}
        return cls(**{key: value for key, value in values.items() if key not in sections}, modules=modules)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), **{key: section.to_dict() for key, section in self.modules.items()}}


SECTIONS: dict[str, type[Section]] = {
    "space": SpaceConfig,
    "constraints": ConstraintsConfig,
    "cost": CostConfig,
    "proxy": ProxyConfig,
    "search": SearchConfig,
}
TOP_LEVEL: dict[str, checks.Validator] = {  # the keys outside the sections; each defaults to None
    "base": checks.optional(checks.text),
    "scale": checks.optional(checks.text),
    "data": checks.optional(checks.text),
}


def config_defaults() -> dict[str, Any]:
    """Every key a config may have, with its default; a section is a nested mapping."""
    return {**dict.fromkeys(TOP_LEVEL), **{name: section.defaults() for name, section in SECTIONS.items()}}


def config_validators() -> dict[str, checks.Validator]:
    """The check of every key, by dotted key (`proxy.epochs`)."""
    found = dict(TOP_LEVEL)
    for name, section in SECTIONS.items():
        found.update(section.validators(f"{name}."))
    return found


def measures_latency(search: SearchConfig, constraints: ConstraintsConfig) -> bool:
    """Latency is measured when it is an objective or a constraint."""
    return "latency" in search.objectives or constraints.max_latency_ms is not None


def _check_cost_keys(cost: CostConfig, latency: bool) -> None:
    if cost.latency_backend == "onnxruntime" and cost.device not in ("auto", "cpu"):
        raise UserError(f"cost.device: latency_backend onnxruntime runs on the CPU (auto or cpu), got {cost.device!r}")
    if latency and cost.latency_backend == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
        raise UserError(
            "cost.latency_backend: 'onnxruntime' needs the onnxruntime package (pip install 'shapenas[onnx]')"
        )


def check_cross_keys(space: SpaceConfig, search: SearchConfig, constraints: ConstraintsConfig, cost: CostConfig):
    """Rules that tie two keys together (the rest, tied to the base model, are checked by the search space)."""
    _check_cost_keys(cost, measures_latency(search, constraints))
    akconv = space.modules["akconv"]
    low, high = akconv.num_param
    if akconv.enabled and FREE_SHAPE in akconv.shapes and akconv.window**2 < high:
        raise UserError(
            f"space.akconv.window: a {akconv.window}x{akconv.window} window cannot hold "
            f"{high} distinct points (space.akconv.num_param={akconv.num_param}); widen it or lower num_param"
        )
    if "akconv_authors" in search.presets:
        if not akconv.enabled:
            raise UserError("search.presets: 'akconv_authors' needs space.akconv.enabled=true, got false")
        if not low <= search.akconv_authors_n <= high:
            raise UserError(
                f"search.akconv_authors_n: expected a value in space.akconv.num_param={akconv.num_param}, "
                f"got {search.akconv_authors_n}"
            )
