"""Ultralytics train arguments: their names, and Ultralytics' own check of their values."""

from __future__ import annotations


def train_arg_names() -> frozenset[str]:
    """Every argument `YOLO.train` accepts (the keys of Ultralytics' default config)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return frozenset(DEFAULT_CFG_DICT)


def check_train_args(args: dict) -> None:
    """Ultralytics' type and range check of train arguments; raises TypeError or ValueError naming the bad one."""
    from ultralytics.cfg import check_cfg

    check_cfg(dict(args), hard=True)
