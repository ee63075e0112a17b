"""Constructor argument checks shared by the modules.

Each check raises `ValueError` naming the module (`owner`), the argument and the bad value, e.g.
`ODConv: kernel_num must be an integer >= 1, got 0`, and returns the value normalised (a numpy int becomes an int).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any


def is_integer(value: Any) -> bool:
    """An integer (numpy's too) that is not a bool: `True` as a channel count is almost surely a mistake."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(owner: str, name: str, value: Any, low: int = 1) -> int:
    if not is_integer(value) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_odd_int(owner: str, name: str, value: Any) -> int:
    """Kernel sizes: odd, so that padding k // 2 keeps the size of a same-padded convolution."""
    if not is_integer(value) or value < 1 or value % 2 == 0:
        raise ValueError(f"{owner}: {name} must be an odd integer >= 1, got {value!r}")
    return int(value)


def check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be true or false, got {value!r}")
    return value


def check_fraction(owner: str, name: str, value: Any, one_allowed: bool) -> float:
    """A number in (0, 1] (`one_allowed`) or in (0, 1)."""
    below_one = value <= 1 if one_allowed else value < 1
    if not isinstance(value, Real) or isinstance(value, bool) or not (0 < value and below_one):
        raise ValueError(f"{owner}: {name} must be in (0, 1{']' if one_allowed else ')'}, got {value!r}")
    return float(value)


def check_one_of(owner: str, name: str, value: Any, choices: tuple) -> Any:
    if value not in choices or isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be one of {choices}, got {value!r}")
    return value


def check_divisible(owner: str, channels: dict[str, int], name: str, value: int) -> None:
    """Every channel count in `channels` (by name) is divisible by `value` (called `name`)."""
    if any(c % value for c in channels.values()):
        counts = ", ".join(f"{n}={c}" for n, c in channels.items())
        raise ValueError(f"{owner}: {' and '.join(channels)} must be divisible by {name}, got {counts}, {name}={value}")
