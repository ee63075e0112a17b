"""The module registry: one `ModuleSpec` per searchable module, and `create_module` to build one by name.

Everything that lists the modules reads `MODULES`: the Ultralytics bridge (which YAML rows to build, with which stock
stand-in), `shapenas.cost` (whose functional work to count), the search space (what a slot may take, with which
searched values, and the summary text), the `space.<config_key>` config sections (defaults and checks) and the tests
(the conformance matrix). A new module is one file in this package and one entry below (see docs/MODULE_CONTRACT.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from shapenas.modules.akconv import AKConv
from shapenas.modules.akconv_shapes import FAMILIES, FREE_SHAPE
from shapenas.modules.dynamic_conv import DynamicConv
from shapenas.modules.dysample import DySample
from shapenas.modules.odconv import ODConv
from shapenas.modules.spconv import SPConv

__all__ = ["KINDS", "MODULES", "ModuleSpec", "Searched", "Values", "create_module", "module_spec"]

KINDS = {"conv": "Conv", "upsample": "nn.Upsample"}  # kind -> the stock Ultralytics module it replaces


@dataclass(frozen=True)
class Values:
    """What a config key accepts: `ints`/`numbers`/`choices` (a list of them), `int_range` ([lo, hi]), `int`, `flag`.

    Integers and ranges lie in [low, high]; numbers in (low, high]; choices are `choices`.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()


@dataclass(frozen=True)
class Searched:
    """One key of the module's `space.<config_key>` config section, with its default and what it accepts.

    `argument`: the key names a constructor argument whose values the search offers (False for a setting of the space
    alone, such as AKConv's shape families); `short` prefixes the value in the summary text (ODConv(K4)).
    """

    key: str
    default: Any
    values: Values
    short: str = ""
    argument: bool = True


@dataclass(frozen=True)
class ModuleSpec:
    """A searchable module.

    - `yaml_args`: the names of a YAML row's arguments, in order; a conv module's row starts with `c2`, an upsample
      module's row has no channels (they are kept). The rest follow the constructor's order (docs/MODULE_CONTRACT.md).
    - `searched`: its `space.<config_key>` config keys; `config_key` also names its Optuna parameters
      (`L<layer>.<config_key>.<name>`).
    - `summary`: the short text of a chosen module, from its parameters and label (None: `Name(<short><value>,...)`).
    - `init_from(module, *replaced, x=None, generator=None)`: start computing what the trained stock layer it replaces
      computed: a conv module from that layer's `(conv, bn)`, an upsample module from the `nn.Upsample`; `x` is a
      sample of the layer's input, `generator` seeds any noise (see `shapenas.inherit_weights`). Not given: the
      class's `init_from_conv` (conv) or `init_from_upsample` (upsample) method, if it has one. None: a warm start
      leaves the module as Ultralytics' transfer left it, and its record says so.
    - `fuse(module)`: fold its BatchNorm for inference, in place and idempotent. Not given: the class's `fuse`
      method, if it has one (None for a module without BatchNorm). The Ultralytics seam calls it from `model.fuse()`.
    - `search`: how a slot searches it (`shapenas.spaces.choices.OPTION_MAKERS`): `values`, its one searched
      constructor argument's configured values; `shapes`, a point count then a sampled shape (AKConv);
      `style_groups`, a style then the groups that style allows (DySample).
    """

    name: str
    cls: type[nn.Module]
    kind: str
    yaml_args: tuple[str, ...]
    config_key: str
    searched: tuple[Searched, ...] = ()
    summary: Callable[[Mapping[str, Any], str], str] | None = None
    init_from: Callable[..., None] | None = None
    fuse: Callable[[nn.Module], None] | None = None
    search: str = "values"
    defaults: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"ModuleSpec {self.name}: kind must be one of {tuple(KINDS)}, got {self.kind!r}")
        # create_module passes a row's arguments positionally: they must follow the constructor's channels in order
        params = list(inspect.signature(self.cls).parameters.values())
        names = [p.name for p in params]
        expected = [*(("c1", "c2") if self.kind == "conv" else ("c",)), *self.after_channels]
        conv_row_starts_with_c2 = self.kind != "conv" or self.yaml_args[:1] == ("c2",)
        if not conv_row_starts_with_c2 or names[: len(expected)] != expected:
            raise ValueError(
                f"ModuleSpec {self.name}: yaml_args {self.yaml_args} do not follow {self.cls.__name__}{names}"
            )
        object.__setattr__(self, "defaults", {p.name: p.default for p in params if p.default is not p.empty})
        hooks = {"init_from": f"init_from_{'conv' if self.kind == 'conv' else 'upsample'}", "fuse": "fuse"}
        for hook, method in hooks.items():  # membership declared once, where the class is defined
            if getattr(self, hook) is None:
                object.__setattr__(self, hook, getattr(self.cls, method, None))

    @property
    def replaces(self) -> str:
        """The stock module a row of this module stands in for: `Conv` or `nn.Upsample`."""
        return KINDS[self.kind]

    @property
    def after_channels(self) -> tuple[str, ...]:
        """The YAML row's argument names after its channels (`create_module`'s `row_args`)."""
        return self.yaml_args[1:] if self.kind == "conv" else self.yaml_args

    def row_values(self, args: list) -> dict[str, Any]:
        """A whole YAML row's arguments by name, with the constructor's defaults for those left out."""
        known = {name: self.defaults[name] for name in self.yaml_args if name in self.defaults}
        return {**known, **dict(zip(self.yaml_args, args, strict=False))}

    def row_args(self, **values: Any) -> list:
        """The YAML row's arguments after its channels, from named values, up to the last one given; the
        constructor's defaults fill the gaps before it."""
        names = self.after_channels
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"{self.name}: no YAML argument {unknown}; its row is {list(self.yaml_args)}")
        last = max((names.index(name) for name in values), default=-1)
        return [values[name] if name in values else self.defaults[name] for name in names[: last + 1]]

    def describe(self, params: Mapping[str, Any], label: str = "") -> str:
        if self.summary is not None:
            return self.summary(params, label)
        shorts = {s.key: s.short for s in self.searched if s.argument}
        return f"{self.name}({','.join(f'{shorts.get(k, k)}{v}' for k, v in params.items())})"


def _akconv_summary(params: Mapping[str, Any], label: str) -> str:
    return f"AKConv(n={params['num_param']},{label or 'points'})"


def _dysample_summary(params: Mapping[str, Any], label: str) -> str:
    return f"DySample({params['style']},g{params['groups']}{',dyscope' if params.get('dyscope') else ''})"


AKCONV_ROW = ("c2", "num_param", "s", "shape")  # its YAML row layout
# The keys of each module's `space.<config_key>` config section: the values a search offers, and their defaults.
AKCONV_KEYS = (
    Searched("num_param", (3, 9), Values("int_range", 2, 64)),
    Searched("shapes", (*FAMILIES, FREE_SHAPE), Values("choices", choices=(*FAMILIES, FREE_SHAPE)), argument=False),
    Searched("window", 5, Values("int", 2, 9), argument=False),
)
ODCONV_KEYS = (Searched("kernel_num", (1, 2, 4), Values("ints", 1, 16), short="K"),)
SPCONV_KEYS = (Searched("ratio", (0.25, 0.5, 0.75), Values("numbers", 0.0, 0.99), short="r"),)
DYNAMIC_CONV_KEYS = (Searched("num_experts", (2, 4), Values("ints", 1, 16), short="E"),)
DYSAMPLE_KEYS = (
    Searched("style", ("lp", "pl"), Values("choices", choices=("lp", "pl"))),
    Searched("groups", (1, 2, 4, 8), Values("ints", 1, 64)),
    Searched("dyscope", False, Values("flag")),
)

# name, class, kind, YAML row layout (docs/MODULE_CONTRACT.md), config key, searched keys, summary; the hooks come
# from each class's own methods (init_from_conv / init_from_upsample, fuse)
_SPECS = (
    ModuleSpec("AKConv", AKConv, "conv", AKCONV_ROW, "akconv", AKCONV_KEYS, _akconv_summary, search="shapes"),
    ModuleSpec("ODConv", ODConv, "conv", ("c2", "k", "s", "kernel_num", "reduction"), "odconv", ODCONV_KEYS),
    ModuleSpec("SPConv", SPConv, "conv", ("c2", "k", "s", "ratio"), "spconv", SPCONV_KEYS),
    ModuleSpec("DynamicConv", DynamicConv, "conv", ("c2", "k", "s", "num_experts"), "dynamic_conv", DYNAMIC_CONV_KEYS),
    ModuleSpec(
        "DySample",
        DySample,
        "upsample",
        ("scale", "style", "groups", "dyscope"),
        "dysample",
        DYSAMPLE_KEYS,
        _dysample_summary,
        search="style_groups",
    ),
)
MODULES: dict[str, ModuleSpec] = {spec.name: spec for spec in _SPECS}


def module_spec(name: str) -> ModuleSpec:
    """The spec of a registered module; `ValueError` naming the known ones otherwise."""
    if name not in MODULES:
        raise ValueError(f"unknown module {name!r}; registered: {', '.join(MODULES)}")
    return MODULES[name]


def create_module(name: str, c1: int, c2: int, *row_args: Any) -> nn.Module:
    """Build module `name` for `c1 -> c2` channels from the YAML row's arguments after its channels.

    For a conv module `row_args` are the row's arguments after `c2`; an upsample module keeps its channels, so it
    takes the whole row and needs `c1 == c2`. Impossible arguments raise the module's `ValueError`.
    """
    spec = module_spec(name)
    if spec.kind == "upsample":
        if c1 != c2:
            raise ValueError(f"{name}: keeps its channels, got c1={c1}, c2={c2}")
        return spec.cls(c1, *row_args)
    return spec.cls(c1, c2, *row_args)
