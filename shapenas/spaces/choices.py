"""Per-slot choices: the modules a slot may take, their searched hyperparameters, and their Optuna parameters.

The modules come from the registry (`shapenas.modules.MODULES`), in its order. Every choice is valid by construction:
a hyperparameter value is offered at a slot only if the module accepts it with that slot's real channels and stride
(checked by building it from the very YAML row arguments the candidate would render); a value the module refuses is
left out and recorded as `Dropped` with the module's reason, which `shapenas space` prints.
Parameter names are `L<layer>.module` and `L<layer>.<config key>.<name>`; each name has one fixed distribution for the
whole study, which NSGA-II and TPE need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shapenas.config_schema import Section, SpaceConfig
from shapenas.modules.registry import KINDS, MODULES, ModuleSpec, create_module
from shapenas.spaces.akconv_space import ShapeChoices, pick, put
from shapenas.spaces.candidate import Choice
from shapenas.spaces.slots import SLOT_KERNEL, Slot


@dataclass(frozen=True)
class Dropped:
    """A configured value a module cannot take at a slot, with the module's reason."""

    slot: str
    module: str
    value: str
    reason: str


def row_args(spec: ModuleSpec, slot: Slot, params: dict[str, Any]) -> list:
    """`spec`'s YAML row arguments after its channels at `slot`: the slot's kernel and stride, then `params`."""
    given = {"k": SLOT_KERNEL, "s": slot.stride} if spec.kind == "conv" else {"scale": slot.stride}
    return spec.row_args(**{name: v for name, v in given.items() if name in spec.after_channels}, **params)


def _builds(spec: ModuleSpec, slot: Slot, params: dict[str, Any], dropped: list[Dropped]) -> bool:
    # Built on the CPU and thrown away: a fraction of a second per space (the meta device would skip the
    # allocation, but its first weight initialisation costs seconds). Only the module's own ValueError for
    # impossible arguments drops a value; anything else is a bug and propagates.
    try:
        create_module(spec.name, slot.c1, slot.c2, *row_args(spec, slot, params))
    except ValueError as error:
        value = ",".join(f"{name}={v}" for name, v in params.items())
        dropped.append(Dropped(slot.name, spec.name, value, str(error)))
        return False
    return True


class ModuleOption:
    """A slot keeping its stock module (`Conv` or `nn.Upsample`): nothing to search. Subclasses add parameters."""

    def __init__(self, module: str):
        self.module = module

    def suggest(self, trial, prefix: str) -> Choice:
        return Choice.of(self.module)

    def to_params(self, choice: Choice, prefix: str) -> dict:
        return {}

    def row_args(self, choice: Choice, slot: Slot, stock_args: list) -> list:
        return list(stock_args)

    def count(self) -> int:
        return 1

    def describe(self) -> str:
        return self.module


class SpecOption(ModuleOption):
    """A registered module: its YAML row keeps the stock row's channels (a conv row's `c2`) and takes the slot's
    kernel and stride, then the chosen parameters, in the registry's layout."""

    def __init__(self, spec: ModuleSpec):
        super().__init__(spec.name)
        self.spec = spec

    def row_args(self, choice: Choice, slot: Slot, stock_args: list) -> list:
        args = row_args(self.spec, slot, self.yaml_params(choice))
        return [stock_args[0], *args] if self.spec.kind == "conv" else args

    def yaml_params(self, choice: Choice) -> dict[str, Any]:
        return dict(choice.params)


class ValueOption(SpecOption):
    """A module with one searched value (ODConv's kernel_num, SPConv's ratio, DynamicConv's num_experts, ...)."""

    def __init__(self, spec: ModuleSpec, param: str, values: list):
        super().__init__(spec)
        self.key, self.param, self.values = spec.config_key, param, values

    def suggest(self, trial, prefix: str) -> Choice:
        return Choice.of(self.module, **{self.param: pick(trial, f"{prefix}.{self.key}.{self.param}", self.values)})

    def to_params(self, choice: Choice, prefix: str) -> dict:
        return put({}, f"{prefix}.{self.key}.{self.param}", self.values, choice.get(self.param))

    def count(self) -> int:
        return len(self.values)

    def describe(self) -> str:
        return f"{self.module}({self.param} {','.join(map(str, self.values))})"


class AKConvOption(SpecOption):
    """A point count (`num_param`) from an inclusive range, then a shape (`search: shapes`, AKConv); YAML row
    `[c2, N, stride, [[row, col], ...]]`."""

    def __init__(self, spec: ModuleSpec, num_param: list[int], shapes: ShapeChoices):
        super().__init__(spec)
        self.low, self.high = num_param
        self.shapes = shapes

    def suggest(self, trial, prefix: str) -> Choice:
        name = f"{prefix}.{self.spec.config_key}.n"
        n = self.low if self.low == self.high else trial.suggest_int(name, self.low, self.high)
        label, points = self.shapes.suggest(trial, f"{prefix}.{self.spec.config_key}", n)
        return Choice.of(self.module, label, num_param=n, points=points)

    def to_params(self, choice: Choice, prefix: str) -> dict:
        n, key = choice.get("num_param"), f"{prefix}.{self.spec.config_key}"
        if not self.low <= n <= self.high:
            raise ValueError(f"{key}.n: {n} is not in [{self.low}, {self.high}]")
        params = {f"{key}.n": n} if self.low < self.high else {}
        return {**params, **self.shapes.to_params(choice.label, choice.get("points"), key)}

    def yaml_params(self, choice: Choice) -> dict[str, Any]:
        return {"num_param": choice.get("num_param"), "shape": [list(point) for point in choice.get("points")]}

    def count(self) -> int:
        return sum(self.shapes.count(n) for n in range(self.low, self.high + 1))

    def describe(self) -> str:
        return f"{self.module}(n {self.low}..{self.high}; {self.shapes.describe()})"


class DySampleOption(SpecOption):
    """A style, then groups valid for that style (`search: style_groups`, DySample: `L<i>.dysample.<style>.groups`).

    YAML row `[scale, style, groups, dyscope]`.
    """

    def __init__(self, spec: ModuleSpec, groups_by_style: dict[str, list[int]], dyscope: bool):
        super().__init__(spec)
        self.groups_by_style, self.dyscope = groups_by_style, dyscope
        self.styles = list(groups_by_style)

    def suggest(self, trial, prefix: str) -> Choice:
        key = f"{prefix}.{self.spec.config_key}"
        style = pick(trial, f"{key}.style", self.styles)
        groups = pick(trial, f"{key}.{style}.groups", self.groups_by_style[style])
        return Choice.of(self.module, style=style, groups=groups, dyscope=self.dyscope)

    def to_params(self, choice: Choice, prefix: str) -> dict:
        key, style = f"{prefix}.{self.spec.config_key}", choice.get("style")
        params = put({}, f"{key}.style", self.styles, style)
        return put(params, f"{key}.{style}.groups", self.groups_by_style[style], choice.get("groups"))

    def count(self) -> int:
        return sum(map(len, self.groups_by_style.values()))

    def describe(self) -> str:
        styles = "; ".join(f"{s} g{','.join(map(str, g))}" for s, g in self.groups_by_style.items())
        return f"{self.module}({styles}{'; dyscope' if self.dyscope else ''})"


# An option maker reads the module's `space.<config_key>` section: its searched keys are attributes (section.groups).
OptionMaker = Callable[[ModuleSpec, Slot, Section, list[Dropped]], ModuleOption | None]


def _value_option(spec: ModuleSpec, slot: Slot, section: Section, dropped: list[Dropped]) -> ModuleOption | None:
    """The default: the module's one searched constructor argument, its configured values that build here."""
    searched = [key.key for key in spec.searched if key.argument]
    if len(searched) != 1:
        raise ValueError(f"{spec.name}: searches {len(searched)} arguments; give it a `search` of OPTION_MAKERS")
    param = searched[0]
    values = [v for v in getattr(section, param) if _builds(spec, slot, {param: v}, dropped)]
    return ValueOption(spec, param, values) if values else None


def _akconv_option(spec: ModuleSpec, slot: Slot, section: Section, dropped: list[Dropped]) -> ModuleOption:
    return AKConvOption(spec, section.num_param, ShapeChoices(section.shapes, section.window))


def _dysample_option(spec: ModuleSpec, slot: Slot, section: Section, dropped: list[Dropped]) -> ModuleOption | None:
    groups_by_style = {
        style: [g for g in section.groups if _builds(spec, slot, {"style": style, "groups": g}, dropped)]
        for style in section.style
    }
    groups_by_style = {style: groups for style, groups in groups_by_style.items() if groups}
    return DySampleOption(spec, groups_by_style, section.dyscope) if groups_by_style else None


# How a slot searches a module, by its spec's `search`: one list of values (a ValueOption), or an option of its own.
OPTION_MAKERS: dict[str, OptionMaker] = {
    "values": _value_option,
    "shapes": _akconv_option,
    "style_groups": _dysample_option,
}


class SlotChoices:
    """What one slot may become; the first option is always the stock module. `dropped` lists the configured
    values a module refused at this slot."""

    def __init__(self, slot: Slot, space: SpaceConfig):
        self.slot = slot
        self.dropped: list[Dropped] = []
        self.options: list[ModuleOption] = [ModuleOption(KINDS[slot.kind])]
        for spec in MODULES.values():
            section = space.modules[spec.config_key]
            if spec.kind == slot.kind and section.enabled:
                option = OPTION_MAKERS[spec.search](spec, slot, section, self.dropped)
                if option is not None:  # e.g. SPConv on the 3-channel image cannot split its input
                    self.options.append(option)
        self.by_module = {option.module: option for option in self.options}
        self.modules = list(self.by_module)

    def option(self, module: str) -> ModuleOption:
        if module not in self.by_module:
            raise ValueError(f"{self.slot.name}: {module!r} is not a choice here; choices: {', '.join(self.modules)}")
        return self.by_module[module]

    def suggest(self, trial) -> Choice:
        module = pick(trial, f"{self.slot.name}.module", self.modules)
        return self.by_module[module].suggest(trial, self.slot.name)

    def to_params(self, choice: Choice | None) -> dict:
        module = choice.module if choice else self.modules[0]
        params = put({}, f"{self.slot.name}.module", self.modules, module)
        return {**params, **self.option(module).to_params(choice, self.slot.name)} if choice else params

    def row_args(self, choice: Choice, stock_args: list) -> list:
        return self.option(choice.module).row_args(choice, self.slot, stock_args)

    def count(self) -> int:
        return sum(option.count() for option in self.options)
