"""Model YAML dicts for tests: stock Ultralytics bases with our modules put in, built without files on disk."""

from __future__ import annotations

from ultralytics.nn.tasks import yaml_model_load

# The stride-2 3x3 Conv rows (after the stem, whose RGB input SPConv cannot split) take these in turn.
CONV_ROWS = [
    ("AKConv", lambda c2: [c2, 5, 2]),
    ("ODConv", lambda c2: [c2, 3, 2, 4, 0.0625]),
    ("SPConv", lambda c2: [c2, 3, 2, 0.5]),
    ("DynamicConv", lambda c2: [c2, 3, 2, 4]),
]


def _rows(model_dict: dict):
    return model_dict["backbone"] + model_dict["head"]


def all_modules_yaml(base: str = "yolov8n.yaml", nc: int = 3) -> dict:
    """The base model with every stride-2 3x3 Conv but the stem replaced (cycling the four conv modules) and every
    nn.Upsample replaced by DySample; the scale letter in `base` picks the scale."""
    model_dict = yaml_model_load(base)
    model_dict["nc"] = nc
    conv_rows = [row for row in _rows(model_dict)[1:] if row[2] == "Conv" and row[3][1:3] == [3, 2]]
    for row, (name, args) in zip(conv_rows, CONV_ROWS * 4, strict=False):
        row[2], row[3] = name, args(row[3][0])
    for row in _rows(model_dict):
        if row[2] == "nn.Upsample":
            row[2], row[3] = "DySample", [2, "lp", 4, False]
    return model_dict


def used_modules(model_dict: dict) -> set[str]:
    return {row[2] for row in _rows(model_dict)}
