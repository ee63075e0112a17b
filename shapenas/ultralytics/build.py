"""YAML rows naming our modules become layers of an Ultralytics model.

Ultralytics decides a row's channels inside `ultralytics.nn.tasks.parse_model`, from sets local to that function, so a
new module cannot simply be registered. Instead, `install()` wraps `parse_model` (a runtime wrapper; Ultralytics'
source is not edited): each row naming a registered module (`shapenas.modules.MODULES`) is handed to Ultralytics as
the stock module with the same channel behaviour (`Conv` for the conv modules, `nn.Upsample` for the upsamplers), and
each such built layer is then replaced by the module made from the layer's real input/output channels, keeping the
index metadata (`i`, `f`, `type`, `np`) that Ultralytics' forward and save list rely on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from shapenas.errors import ShapenasError
from shapenas.modules.registry import MODULES, ModuleSpec, create_module
from shapenas.ultralytics.fuse import install as install_fuse
from shapenas.ultralytics.probe import channels_into

STAND_IN_KERNEL = 3  # a conv module without a kernel argument (AKConv) keeps the output size of a padded 3x3 conv


class BuildError(ShapenasError, ValueError):
    """A custom row cannot be built with the channels Ultralytics gives it; the message names the layer."""


@dataclass(frozen=True)
class CustomRow:
    """A custom YAML row remembered while Ultralytics builds its stand-in."""

    index: int
    name: str
    args: list


def stand_in(spec: ModuleSpec, args: list) -> tuple[str, list]:
    """The stock row Ultralytics builds in place of a custom one: same width scaling, same stride."""
    values = spec.row_values(args)
    if spec.kind == "upsample":
        return "nn.Upsample", [None, values["scale"], "nearest"]
    return "Conv", [values["c2"], values.get("k", STAND_IN_KERNEL), values["s"]]


def swap_custom_rows(model_dict: dict) -> tuple[dict, list[CustomRow]]:
    """Return a copy of the model dict with custom rows replaced by stand-ins, and the rows taken out."""
    model_dict = copy.deepcopy(model_dict)
    rows = []
    for index, row in enumerate(model_dict.get("backbone", []) + model_dict.get("head", [])):
        _, repeats, name, args = row
        if name not in MODULES:
            continue
        if repeats != 1:
            raise BuildError(f"layer {index} {name}: repeats must be 1, got {repeats}")
        args = list(args)
        if MODULES[name].kind == "conv" and not args:
            raise BuildError(f"layer {index} {name}: the row needs its output channels first, got {args}")
        rows.append(CustomRow(index, name, args))
        row[2], row[3] = stand_in(MODULES[name], args)
    return model_dict, rows


def _make_module(row: CustomRow, stand_in_layer: nn.Module, channels_in: dict[int, int]) -> nn.Module:
    try:
        if MODULES[row.name].kind == "upsample":
            channels = channels_in[row.index]
            return create_module(row.name, channels, channels, *row.args)
        conv = stand_in_layer.conv
        return create_module(row.name, conv.in_channels, conv.out_channels, *row.args[1:])
    except (ValueError, TypeError) as error:
        raise BuildError(f"layer {row.index} {row.name}{row.args}: {error}") from None


def replace_stand_ins(layers: nn.Sequential, rows: list[CustomRow], input_channels: int) -> None:
    """Swap each stand-in layer for its custom module, keeping Ultralytics' per-layer metadata."""
    upsample_rows = {row.index for row in rows if MODULES[row.name].kind == "upsample"}
    channels_in = channels_into(layers, upsample_rows, input_channels)
    for row in rows:
        stand_in_layer = layers[row.index]
        module = _make_module(row, stand_in_layer, channels_in)
        module.i, module.f = stand_in_layer.i, stand_in_layer.f
        module.type = f"{type(module).__module__}.{type(module).__name__}"
        module.np = sum(p.numel() for p in module.parameters())
        layers[row.index] = module


def with_declared_scale(model_dict: dict) -> dict:
    """`model_dict` with the `scale` its file declares. Ultralytics sets `scale` from the file name (yolov8s.yaml
    -> s) and drops the YAML's own, so an exported `best.yaml` with `scale: s` would build as the first scale, with a
    warning at every build."""
    path = Path(str(model_dict.get("yaml_file", "")))
    if model_dict.get("scale") or not path.is_file():
        return model_dict
    declared = (yaml.safe_load(path.read_text()) or {}).get("scale")
    return {**model_dict, "scale": declared} if declared in model_dict.get("scales", {}) else model_dict


def _wrap(parse_model):
    def parse_model_with_custom_rows(d, ch, verbose=True):
        stock_dict, rows = swap_custom_rows(with_declared_scale(d))
        layers, save = parse_model(stock_dict, ch, verbose)
        if rows:
            replace_stand_ins(layers, rows, ch)
        return layers, save

    parse_model_with_custom_rows.shapenas_original = parse_model
    return parse_model_with_custom_rows


def install() -> None:
    """Make Ultralytics build our modules from YAML rows, and fuse them in `model.fuse()`. Idempotent; called by
    `import shapenas`."""
    from ultralytics.nn import tasks

    if not hasattr(tasks.parse_model, "shapenas_original"):
        tasks.parse_model = _wrap(tasks.parse_model)
    install_fuse()


def load_model_yaml(name: str) -> dict:
    """A model YAML as Ultralytics reads it (a path, or a name such as yolov8n.yaml; `scale` set from the name)."""
    from ultralytics.nn.tasks import yaml_model_load

    return yaml_model_load(name)


def model_file_stem(base: str, scale: str | None) -> str:
    """A file name for a rendered model YAML from which Ultralytics reads back `scale` (it guesses the scale from
    names like yolov8n.yaml); a base name carrying another letter would make it look for a scale that was dropped."""
    from ultralytics.nn.tasks import guess_model_scale

    stem = Path(base).stem
    return stem if guess_model_scale(stem + ".yaml") == (scale or "") else "model"


def yolo_model(path: str | Path) -> Any:
    """An `ultralytics.YOLO` model (the object that trains, validates and exports) from a model YAML or checkpoint."""
    from ultralytics import YOLO

    install()
    return YOLO(str(path))


def build_model(model_dict: dict, verbose: bool = False) -> nn.Module:
    """Build an Ultralytics `DetectionModel` from a model YAML dict (custom rows included)."""
    from ultralytics.nn.tasks import DetectionModel

    install()
    return DetectionModel(copy.deepcopy(model_dict), verbose=verbose)
