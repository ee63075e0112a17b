"""The checks a config key's value goes through: `(dotted_key, value) -> normalised value`, or a `UserError` naming
the key and the value on one line. `shapenas.config_schema` gives each key one of these.
"""

from __future__ import annotations

import re
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Callable

from shapenas.errors import UserError, first_line

if TYPE_CHECKING:  # the registry imports torch
    from shapenas.modules.registry import Values

SLOT_GROUPS = ("all", "backbone", "head", "downsample", "conv", "upsample")

Validator = Callable[[str, Any], Any]


def fail(key: str, value: Any, expected: str):
    """Raise the one-line `UserError` for a value that is not what the key expects."""
    raise UserError(f"{key}: expected {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def integer(low: int | None = None, high: int | None = None, multiple_of: int = 1) -> Validator:
    def check(key: str, value: Any) -> int:
        bounds = "" if low is None else f" >= {low}" if high is None else f" in [{low}, {high}]"
        what = f"an integer{bounds}" + (f", a multiple of {multiple_of}" if multiple_of > 1 else "")
        if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
            fail(key, value, what)
        if value % multiple_of:
            fail(key, value, what)
        return int(value)

    return check


def number(low: float, high: float | None = None, low_open: bool = True) -> Validator:
    def check(key: str, value: Any) -> float:
        what = f"a number {'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        if not isinstance(value, Real) or isinstance(value, bool):
            fail(key, value, what)
        above = value > low if low_open else value >= low
        if not above or (high is not None and value > high):
            fail(key, value, what)
        return float(value)

    return check


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(key, value, "true or false")
    return value


def one_of(*choices: Any) -> Validator:
    def check(key: str, value: Any) -> Any:
        # same type and value: neither 1 nor 1.0 may stand for true, nor true for 1
        if not any(type(value) is type(c) and value == c for c in choices):
            fail(key, value, "one of " + ", ".join(map(str, choices)))
        return value

    return check


def optional(inner: Validator) -> Validator:
    return lambda key, value: None if value is None else inner(key, value)


def list_of(item: Validator, allow_empty: bool = False) -> Validator:
    """A list without repeats, non-empty unless allowed (a single value is taken as a list of one)."""

    def check(key: str, value: Any) -> list:
        values = value if isinstance(value, list) else [value]
        if not values and not allow_empty:
            fail(key, value, "a non-empty list")
        out = [item(key, v) for v in values]
        if len(set(map(repr, out))) != len(out):
            fail(key, value, "a list without repeated values")
        return out

    return check


def int_range(low: int, high: int) -> Validator:
    """An integer, or an inclusive `[lo, hi]` range, normalised to `[lo, hi]`."""

    def check(key: str, value: Any) -> list[int]:
        pair = [value, value] if _is_int(value) else value
        what = f"an integer or a range [lo, hi] with {low} <= lo <= hi <= {high}"
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_int, pair))):
            fail(key, value, what)
        if not low <= pair[0] <= pair[1] <= high:
            fail(key, value, what)
        return [int(pair[0]), int(pair[1])]

    return check


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(key, value, "a non-empty string")
    return value


def slots(key: str, value: Any) -> list:
    """Slot groups by name and/or layer indices; the indices are checked against the base by the search space."""
    values = value if isinstance(value, list) else [value]
    if not values:
        fail(key, value, "a non-empty list of slot names or layer indices")
    for v in values:
        if not (_is_int(v) and v >= 0) and v not in SLOT_GROUPS:
            fail(key, v, f"a layer index >= 0 or one of {', '.join(SLOT_GROUPS)}")
    return list(dict.fromkeys(values))


def device(key: str, value: Any) -> str:
    # Ultralytics' spellings: "cpu", "mps", "0", "0,1", "cuda:0"; "auto" = the GPU when there is one
    value = str(value) if _is_int(value) else value
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|mps|\d+(,\d+)*|cuda(:\d+)?", value):
        fail(key, value, "auto, cpu, mps, a GPU index like 0 or 0,1, or cuda:N")
    return value


def cost_device(key: str, value: Any) -> str | int:
    """Where latency is measured: auto (the first GPU if any, else the CPU), cpu, or one CUDA index."""
    if _is_int(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if value not in ("auto", "cpu"):
        fail(key, value, "auto, cpu or a CUDA index like 0")
    return value


# The objective lists a search may have: mAP50-95 first, then one or two costs (shapenas.search.results.objectives).
OBJECTIVE_LISTS = (["map50_95", "gflops"], ["map50_95", "latency"], ["map50_95", "gflops", "latency"])


def objectives(key: str, value: Any) -> list[str]:
    if value not in OBJECTIVE_LISTS:
        fail(key, value, "one of " + ", ".join("[" + ", ".join(choice) + "]" for choice in OBJECTIVE_LISTS))
    return list(value)


def off_or(*choices: str) -> Validator:
    # YAML 1.1 reads a bare `off` as false; take it as the string the user meant
    inner = one_of("off", *choices)
    return lambda key, value: inner(key, "off" if value is False else value)


# Train arguments shapenas sets itself (from the proxy keys above, or per trial); train_args may not change them.
MANAGED_TRAIN_ARGS = frozenset(
    {
        "data",
        "pretrained",
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
        fail(key, value, "a mapping of Ultralytics train arguments")
    for name in value:
        if name in MANAGED_TRAIN_ARGS:
            raise UserError(f"{key}.{name}: set by shapenas (use proxy.{name} where there is one), got {value[name]!r}")
        if name not in train_arg_names():
            fail(f"{key}.{name}", name, "an Ultralytics train argument")
    try:
        check_train_args(value)
    except (TypeError, ValueError) as error:
        raise UserError(f"{key}: {first_line(error)}") from None
    return dict(value)


def values_check(values: Values) -> Validator:
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
