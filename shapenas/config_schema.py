"""Every key of the search config: its default and the validator that checks it (one line per key).

A validator is `(dotted_key, value) -> normalised value` and raises `UserError` naming the key and the value.
`DEFAULTS` lists every key a config may have; `shapenas.config` rejects any other.
"""

from __future__ import annotations

import re
from numbers import Integral, Real
from typing import Any, Callable

from shapenas.errors import UserError, first_line
from shapenas.modules.akconv_shapes import FREE_SHAPE
from shapenas.modules.registry import MODULES, Values

SLOT_GROUPS = ("all", "backbone", "head", "downsample", "conv", "upsample")
PRESETS = ("baseline", "akconv_authors")
SAMPLERS = ("nsga2", "tpe", "random")


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# One section per registered module, `space.<config_key>`: `enabled` and the keys its ModuleSpec searches.
MODULE_SECTIONS: dict[str, dict[str, Any]] = {
    spec.config_key: {"enabled": True, **{key.key: _as_list(key.default) for key in spec.searched}}
    for spec in MODULES.values()
}

DEFAULTS: dict[str, Any] = {
    "base": None,
    "scale": None,
    "data": None,
    "space": {"slots": "all", **MODULE_SECTIONS},
    "constraints": {"max_gflops": None, "max_params": None},
    "proxy": {
        "epochs": 3,
        "imgsz": 160,
        "batch": 16,
        "fraction": 1.0,
        "seed": 0,
        "device": "auto",
        "workers": 0,
        "cache": False,
        "train_args": {},
    },
    "search": {
        "trials": 8,
        "sampler": "nsga2",
        "seed": 0,
        "early_stop": "off",
        "early_stop_rungs": [0.111, 0.333],
        "early_stop_worst": 0.5,
        "presets": list(PRESETS),
        "akconv_authors_n": 5,
    },
}

Validator = Callable[[str, Any], Any]


def _fail(key: str, value: Any, expected: str):
    raise UserError(f"{key}: expected {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def integer(low: int | None = None, high: int | None = None, multiple_of: int = 1) -> Validator:
    def check(key: str, value: Any) -> int:
        bounds = "" if low is None else f" >= {low}" if high is None else f" in [{low}, {high}]"
        what = f"an integer{bounds}" + (f", a multiple of {multiple_of}" if multiple_of > 1 else "")
        if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
            _fail(key, value, what)
        if value % multiple_of:
            _fail(key, value, what)
        return int(value)

    return check


def number(low: float, high: float | None = None, low_open: bool = True) -> Validator:
    def check(key: str, value: Any) -> float:
        above = value > low if low_open else value >= low
        what = f"a number {'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        if not isinstance(value, Real) or isinstance(value, bool) or not above or (high is not None and value > high):
            _fail(key, value, what)
        return float(value)

    return check


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(key, value, "true or false")
    return value


def one_of(*choices: Any) -> Validator:
    def check(key: str, value: Any) -> Any:
        # same type and value: neither 1 nor 1.0 may stand for true, nor true for 1
        if not any(type(value) is type(c) and value == c for c in choices):
            _fail(key, value, "one of " + ", ".join(map(str, choices)))
        return value

    return check


def optional(inner: Validator) -> Validator:
    return lambda key, value: None if value is None else inner(key, value)


def list_of(item: Validator, allow_empty: bool = False) -> Validator:
    """A list without repeats, non-empty unless allowed (a single value is taken as a list of one)."""

    def check(key: str, value: Any) -> list:
        values = value if isinstance(value, list) else [value]
        if not values and not allow_empty:
            _fail(key, value, "a non-empty list")
        out = [item(key, v) for v in values]
        if len(set(map(repr, out))) != len(out):
            _fail(key, value, "a list without repeated values")
        return out

    return check


def int_range(low: int, high: int) -> Validator:
    """An integer, or an inclusive `[lo, hi]` range, normalised to `[lo, hi]`."""

    def check(key: str, value: Any) -> list[int]:
        pair = [value, value] if _is_int(value) else value
        what = f"an integer or a range [lo, hi] with {low} <= lo <= hi <= {high}"
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_int, pair))):
            _fail(key, value, what)
        if not low <= pair[0] <= pair[1] <= high:
            _fail(key, value, what)
        return [int(pair[0]), int(pair[1])]

    return check


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(key, value, "a non-empty string")
    return value


def slots(key: str, value: Any) -> list:
    """Slot groups by name and/or layer indices; the indices are checked against the base by the search space."""
    values = value if isinstance(value, list) else [value]
    if not values:
        _fail(key, value, "a non-empty list of slot names or layer indices")
    for v in values:
        if not (_is_int(v) and v >= 0) and v not in SLOT_GROUPS:
            _fail(key, v, f"a layer index >= 0 or one of {', '.join(SLOT_GROUPS)}")
    return list(dict.fromkeys(values))


def device(key: str, value: Any) -> str:
    # Ultralytics' spellings: "cpu", "mps", "0", "0,1", "cuda:0"; "auto" = the GPU when there is one
    value = str(value) if _is_int(value) else value
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|mps|\d+(,\d+)*|cuda(:\d+)?", value):
        _fail(key, value, "auto, cpu, mps, a GPU index like 0 or 0,1, or cuda:N")
    return value


def off_or(*choices: str) -> Validator:
    # YAML 1.1 reads a bare `off` as false; take it as the string the user meant
    inner = one_of("off", *choices)
    return lambda key, value: inner(key, "off" if value is False else value)


# Train arguments shapenas sets itself (from the proxy keys above, or per trial); train_args may not change them.
MANAGED_TRAIN_ARGS = frozenset(
    {
        "data",
        "epochs",
        "imgsz",
        "batch",
        "fraction",
        "seed",
        "device",
        "workers",
        "cache",
        "model",
        "project",
        "name",
        "exist_ok",
        "resume",
        "plots",
        "verbose",
        "amp",
        "deterministic",
        "mode",
        "task",
    }
)


def train_args(key: str, value: Any) -> dict:
    """Extra Ultralytics train arguments for the proxy (e.g. warmup_epochs, mosaic, lr0), checked by Ultralytics."""
    from shapenas.ultralytics.cfg import check_train_args, train_arg_names

    if not isinstance(value, dict):
        _fail(key, value, "a mapping of Ultralytics train arguments")
    for name in value:
        if name in MANAGED_TRAIN_ARGS:
            raise UserError(f"{key}.{name}: set by shapenas (use proxy.{name} where there is one), got {value[name]!r}")
        if name not in train_arg_names():
            _fail(f"{key}.{name}", name, "an Ultralytics train argument")
    try:
        check_train_args(value)
    except (TypeError, ValueError) as error:
        raise UserError(f"{key}: {first_line(error)}") from None
    return dict(value)


def _values_validator(values: Values) -> Validator:
    """The validator for what a module's config key accepts (`Values` in shapenas.modules.registry)."""
    low, high = values.low, values.high
    return {
        "ints": lambda: list_of(integer(low, high)),
        "numbers": lambda: list_of(number(low, high)),
        "choices": lambda: list_of(one_of(*values.choices)),
        "int_range": lambda: int_range(low, high),
        "int": lambda: integer(low, high),
        "flag": lambda: boolean,
    }[values.kind]()


def _module_validators() -> dict[str, Validator]:
    validators: dict[str, Validator] = {}
    for spec in MODULES.values():
        validators[f"space.{spec.config_key}.enabled"] = boolean
        validators.update(
            {f"space.{spec.config_key}.{key.key}": _values_validator(key.values) for key in spec.searched}
        )
    return validators


VALIDATORS: dict[str, Validator] = {
    "base": optional(text),
    "scale": optional(text),
    "data": optional(text),
    "space.slots": slots,
    **_module_validators(),
    "constraints.max_gflops": optional(number(0.0)),
    "constraints.max_params": optional(number(0.0)),
    "proxy.epochs": integer(1),
    "proxy.imgsz": integer(32, 4096, multiple_of=32),
    "proxy.batch": integer(1),
    "proxy.fraction": number(0.0, 1.0),
    "proxy.seed": integer(0),
    "proxy.device": device,
    "proxy.workers": integer(0),
    "proxy.cache": one_of(False, True, "ram", "disk"),
    "proxy.train_args": train_args,
    "search.trials": integer(1),
    "search.sampler": one_of(*SAMPLERS),
    "search.seed": optional(integer(0)),
    "search.early_stop": off_or("pareto_rank"),
    "search.early_stop_rungs": list_of(number(0.0, 1.0, low_open=True)),
    "search.early_stop_worst": number(0.0, 1.0, low_open=True),
    "search.presets": list_of(one_of(*PRESETS), allow_empty=True),
    "search.akconv_authors_n": integer(2, 64),
}


def check_cross_keys(tree: dict) -> None:
    """Rules that tie two keys together (the rest, tied to the base model, are checked by the search space)."""
    akconv = tree["space"]["akconv"]
    low, high = akconv["num_param"]
    if akconv["enabled"] and FREE_SHAPE in akconv["shapes"] and akconv["window"] ** 2 < high:
        raise UserError(
            f"space.akconv.window: a {akconv['window']}x{akconv['window']} window cannot hold "
            f"{high} distinct points (space.akconv.num_param={akconv['num_param']}); widen it or lower num_param"
        )
    search = tree["search"]
    if "akconv_authors" in search["presets"]:
        if not akconv["enabled"]:
            raise UserError("search.presets: 'akconv_authors' needs space.akconv.enabled=true, got false")
        if not low <= search["akconv_authors_n"] <= high:
            raise UserError(
                f"search.akconv_authors_n: expected a value in space.akconv.num_param={akconv['num_param']}, "
                f"got {search['akconv_authors_n']}"
            )
