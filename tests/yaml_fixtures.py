"""Model YAML dicts for tests: stock Ultralytics bases with our modules put in, built without files on disk."""

from __future__ import annotations

from shapenas.modules import MODULES
from shapenas.ultralytics.build import load_model_yaml


def _full_row(spec, given: dict) -> list:
    """The YAML arguments after the channels, spelled out: `given`, else the constructor's default (None, as
    AKConv's default shape, is left out)."""
    values = {name: given.get(name, spec.defaults.get(name)) for name in spec.after_channels}
    return spec.row_args(**{name: value for name, value in values.items() if value is not None})


# The stride-2 3x3 Conv rows (after the stem, whose RGB input SPConv cannot split) take the registered conv modules in
# turn; every nn.Upsample row takes each upsample module in turn. Rows spell out every argument, as users paste them.
CONV_ROWS = [(spec.name, _full_row(spec, {"k": 3, "s": 2})) for spec in MODULES.values() if spec.kind == "conv"]
UPSAMPLE_ROWS = [(spec.name, _full_row(spec, {"scale": 2})) for spec in MODULES.values() if spec.kind == "upsample"]


def _rows(model_dict: dict):
    return model_dict["backbone"] + model_dict["head"]


def all_modules_yaml(base: str = "yolov8n.yaml", nc: int = 3) -> dict:
    """The base model with every stride-2 3x3 Conv but the stem replaced (cycling through the conv modules) and every
    nn.Upsample replaced (cycling through the upsample modules); the scale letter in `base` picks the scale."""
    model_dict = load_model_yaml(base)
    model_dict["nc"] = nc
    conv_rows = [row for row in _rows(model_dict)[1:] if row[2] == "Conv" and row[3][1:3] == [3, 2]]
    for row, (name, args) in zip(conv_rows, CONV_ROWS * 4, strict=False):
        row[2], row[3] = name, [row[3][0], *args]
    upsample_rows = [row for row in _rows(model_dict) if row[2] == "nn.Upsample"]
    for row, (name, args) in zip(upsample_rows, UPSAMPLE_ROWS * 4, strict=False):
        row[2], row[3] = name, list(args)
    return model_dict


def used_modules(model_dict: dict) -> set[str]:
    return {row[2] for row in _rows(model_dict)}
