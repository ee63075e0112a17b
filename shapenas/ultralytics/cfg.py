"""Ultralytics train arguments: their names, and Ultralytics' own check of their values."""

from __future__ import annotations

import difflib


def train_arg_names() -> frozenset[str]:
    """Every argument `YOLO.train` accepts (the keys of Ultralytics' default config)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return frozenset(DEFAULT_CFG_DICT)


def check_train_args(args: dict) -> None:
    """Ultralytics' type and range check of train arguments; raises TypeError or ValueError naming the bad one."""
    from ultralytics.cfg import check_cfg

    check_cfg(dict(args), hard=True)


def parse_train_args(pairs: list[str]) -> dict:
    """`key=value` words read as the `yolo` command reads them (Ultralytics' `parse_key_value_pair`: values become
    Python literals, never evaluated code), every key a train argument, then Ultralytics' type and range check.
    `ValueError` with one line naming the first bad word."""
    from ultralytics.cfg import parse_key_value_pair

    names, args = train_arg_names(), {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"{pair!r}: expected key=value")
        try:
            key, value = parse_key_value_pair(pair)
        except AssertionError as error:  # "missing 'epochs' value"
            raise ValueError(f"{pair!r}: {error}") from None
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{pair!r}: {key!r} is not a valid YOLO argument{hint}")
        args[key] = value
    try:
        check_train_args(args)
    except (TypeError, ValueError) as error:
        raise ValueError(str(error).splitlines()[0]) from None
    return args
