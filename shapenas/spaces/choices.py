"""Per-slot choices: the modules a slot may take, their searched hyperparameters, and their Optuna parameters.

Every choice is valid by construction: a hyperparameter value is offered at a slot only if the module accepts it with
that slot's real channels and stride (checked by constructing it), so an invalid model never reaches training.
Parameter names are `L<layer>.module` and `L<layer>.<module key>.<name>`; each name has one fixed distribution for the
whole study, which NSGA-II and TPE need.
"""

from __future__ import annotations

from typing import Callable

from shapenas.modules import DynamicConv, DySample, ODConv, SPConv
from shapenas.spaces.akconv_space import ShapeChoices, pick, put
from shapenas.spaces.candidate import Choice
from shapenas.spaces.slots import Slot


def _builds(make: Callable[..., object], *args) -> bool:
    # Built on the CPU and thrown away: a fraction of a second per space (the meta device would skip the
    # allocation, but its first weight initialisation costs seconds).
    try:
        make(*args)
    except ValueError:
        return False
    return True


class ModuleOption:
    """A slot keeping its stock module (`Conv` or `nn.Upsample`): nothing to search. Subclasses add parameters."""

    key = ""

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


class ValueOption(ModuleOption):
    """ODConv, SPConv, DynamicConv: one searched value; YAML row `[c2, 3, stride, value]`."""

    def __init__(self, module: str, key: str, param: str, values: list):
        super().__init__(module)
        self.key, self.param, self.values = key, param, values

    def suggest(self, trial, prefix: str) -> Choice:
        return Choice.of(self.module, **{self.param: pick(trial, f"{prefix}.{self.key}.{self.param}", self.values)})

    def to_params(self, choice: Choice, prefix: str) -> dict:
        return put({}, f"{prefix}.{self.key}.{self.param}", self.values, choice.get(self.param))

    def row_args(self, choice: Choice, slot: Slot, stock_args: list) -> list:
        return [stock_args[0], 3, slot.stride, choice.get(self.param)]

    def count(self) -> int:
        return len(self.values)

    def describe(self) -> str:
        return f"{self.module}({self.param} {','.join(map(str, self.values))})"


class AKConvOption(ModuleOption):
    """AKConv: `num_param` from an inclusive range, then a shape; YAML row `[c2, N, stride, [[row, col], ...]]`."""

    key = "akconv"

    def __init__(self, num_param: list[int], shapes: ShapeChoices):
        super().__init__("AKConv")
        self.low, self.high = num_param
        self.shapes = shapes

    def suggest(self, trial, prefix: str) -> Choice:
        name = f"{prefix}.akconv.n"
        n = self.low if self.low == self.high else trial.suggest_int(name, self.low, self.high)
        label, points = self.shapes.suggest(trial, f"{prefix}.akconv", n)
        return Choice.of("AKConv", label, num_param=n, points=points)

    def to_params(self, choice: Choice, prefix: str) -> dict:
        n = choice.get("num_param")
        if not self.low <= n <= self.high:
            raise ValueError(f"{prefix}.akconv.n: {n} is not in [{self.low}, {self.high}]")
        params = {f"{prefix}.akconv.n": n} if self.low < self.high else {}
        return {**params, **self.shapes.to_params(choice.label, choice.get("points"), f"{prefix}.akconv")}

    def row_args(self, choice: Choice, slot: Slot, stock_args: list) -> list:
        points = [list(point) for point in choice.get("points")]
        return [stock_args[0], choice.get("num_param"), slot.stride, points]

    def count(self) -> int:
        return sum(self.shapes.count(n) for n in range(self.low, self.high + 1))

    def describe(self) -> str:
        return f"AKConv(n {self.low}..{self.high}; {self.shapes.describe()})"


class DySampleOption(ModuleOption):
    """DySample: a style, then groups valid for that style (`L<i>.dysample.<style>.groups`).

    YAML row `[scale, style, groups, dyscope]`.
    """

    key = "dysample"

    def __init__(self, groups_by_style: dict[str, list[int]], dyscope: bool):
        super().__init__("DySample")
        self.groups_by_style, self.dyscope = groups_by_style, dyscope
        self.styles = list(groups_by_style)

    def suggest(self, trial, prefix: str) -> Choice:
        style = pick(trial, f"{prefix}.dysample.style", self.styles)
        groups = pick(trial, f"{prefix}.dysample.{style}.groups", self.groups_by_style[style])
        return Choice.of("DySample", style=style, groups=groups, dyscope=self.dyscope)

    def to_params(self, choice: Choice, prefix: str) -> dict:
        style = choice.get("style")
        params = put({}, f"{prefix}.dysample.style", self.styles, style)
        return put(params, f"{prefix}.dysample.{style}.groups", self.groups_by_style[style], choice.get("groups"))

    def row_args(self, choice: Choice, slot: Slot, stock_args: list) -> list:
        return [slot.stride, choice.get("style"), choice.get("groups"), choice.get("dyscope")]

    def count(self) -> int:
        return sum(map(len, self.groups_by_style.values()))

    def describe(self) -> str:
        styles = "; ".join(f"{s} g{','.join(map(str, g))}" for s, g in self.groups_by_style.items())
        return f"DySample({styles}{'; dyscope' if self.dyscope else ''})"


def _conv_options(slot: Slot, space: dict) -> list[ModuleOption]:
    options: list[ModuleOption] = [ModuleOption("Conv")]
    c1, c2, s = slot.c1, slot.c2, slot.stride
    akconv = space["akconv"]
    if akconv["enabled"]:
        options.append(AKConvOption(akconv["num_param"], ShapeChoices(akconv["shapes"], akconv["window"])))
    searched = [
        ("odconv", "ODConv", "kernel_num", lambda v: ODConv(c1, c2, 3, s, kernel_num=v)),
        ("spconv", "SPConv", "ratio", lambda v: SPConv(c1, c2, 3, s, ratio=v)),
        ("dynamic_conv", "DynamicConv", "num_experts", lambda v: DynamicConv(c1, c2, 3, s, num_experts=v)),
    ]
    for key, module, param, make in searched:
        values = [v for v in space[key][param] if _builds(make, v)] if space[key]["enabled"] else []
        if values:  # e.g. SPConv on the 3-channel image cannot split its input: it is simply not offered there
            options.append(ValueOption(module, key, param, values))
    return options


def _upsample_options(slot: Slot, space: dict) -> list[ModuleOption]:
    options: list[ModuleOption] = [ModuleOption("nn.Upsample")]
    dysample = space["dysample"]
    if dysample["enabled"]:
        groups_by_style = {
            style: [g for g in dysample["groups"] if _builds(DySample, slot.c1, slot.stride, style, g)]
            for style in dysample["style"]
        }
        groups_by_style = {style: groups for style, groups in groups_by_style.items() if groups}
        if groups_by_style:
            options.append(DySampleOption(groups_by_style, dysample["dyscope"]))
    return options


class SlotChoices:
    """What one slot may become; the first option is always the stock module."""

    def __init__(self, slot: Slot, space: dict):
        self.slot = slot
        self.options = _conv_options(slot, space) if slot.kind == "conv" else _upsample_options(slot, space)
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
