"""The one place that knows Ultralytics internals: how YAML rows naming our modules become layers.

Ultralytics decides a row's channels inside `ultralytics.nn.tasks.parse_model`, from sets local to that function, so a
new module cannot simply be registered. Instead, `install()` wraps `parse_model` (a runtime wrapper; Ultralytics'
source is not edited): each custom row is handed to Ultralytics as the stock module with the same channel behaviour
(`Conv` for the conv modules, `nn.Upsample` for DySample), and each such built layer is then replaced by the custom
module made from the layer's real input/output channels, keeping the index metadata (`i`, `f`, `type`, `np`) that
Ultralytics' forward and save list rely on. `tests/test_ultralytics_bridge.py` pins this against the installed version.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shapenas.errors import ShapenasError
from shapenas.modules import AKConv, DynamicConv, DySample, ODConv, SPConv

CONV_MODULES: dict[str, type[nn.Module]] = {
    "AKConv": AKConv,
    "ODConv": ODConv,
    "SPConv": SPConv,
    "DynamicConv": DynamicConv,
}
UPSAMPLE_MODULES: dict[str, type[nn.Module]] = {"DySample": DySample}
CUSTOM_MODULES = {**CONV_MODULES, **UPSAMPLE_MODULES}

# Input size of the forward pass that reads the channels entering each DySample row; any multiple of 32 works.
_PROBE_SIZE = 64


class BuildError(ShapenasError, ValueError):
    """A custom row cannot be built with the channels Ultralytics gives it; the message names the layer."""


@dataclass(frozen=True)
class CustomRow:
    """A custom YAML row remembered while Ultralytics builds its stand-in."""

    index: int
    name: str
    args: list


def _stand_in(name: str, args: list) -> tuple[str, list]:
    """The stock row Ultralytics builds in place of a custom one: same width scaling, same stride."""
    if name in UPSAMPLE_MODULES:
        scale = args[0] if args else 2
        return "nn.Upsample", [None, scale, "nearest"]
    if name == "AKConv":  # AKConv: [c2, num_param, stride, shape]
        stride = args[2] if len(args) > 2 else 1
        return "Conv", [args[0], 3, stride]
    kernel = args[1] if len(args) > 1 else 3  # ODConv, SPConv, DynamicConv: [c2, k, s, ...]
    stride = args[2] if len(args) > 2 else 1
    return "Conv", [args[0], kernel, stride]


def swap_custom_rows(model_dict: dict) -> tuple[dict, list[CustomRow]]:
    """Return a copy of the model dict with custom rows replaced by stand-ins, and the rows taken out."""
    model_dict = copy.deepcopy(model_dict)
    rows = []
    for index, row in enumerate(model_dict.get("backbone", []) + model_dict.get("head", [])):
        _, repeats, name, args = row
        if name not in CUSTOM_MODULES:
            continue
        if repeats != 1:
            raise BuildError(f"layer {index} {name}: repeats must be 1, got {repeats}")
        args = list(args)
        rows.append(CustomRow(index, name, args))
        row[2], row[3] = _stand_in(name, args)
    return model_dict, rows


def _channels_into(layers: nn.Sequential, wanted: set[int], input_channels: int) -> dict[int, int]:
    """Channels entering each wanted layer, read from one small forward pass routed like Ultralytics' own."""
    seen: dict[int, int] = {}
    outputs: list[Any] = []
    x: Any = torch.zeros(1, input_channels, _PROBE_SIZE, _PROBE_SIZE)
    modes = [m.training for m in layers.modules()]
    layers.eval()  # BatchNorm in train mode cannot take a 1x1 map of batch 1
    try:
        with torch.no_grad():
            for layer in layers:
                if layer.f != -1:
                    x = (
                        outputs[layer.f]
                        if isinstance(layer.f, int)
                        else [x if j == -1 else outputs[j] for j in layer.f]
                    )
                if layer.i in wanted:
                    seen[layer.i] = x.shape[1]
                    if len(seen) == len(wanted):
                        break
                x = layer(x)
                outputs.append(x)
    finally:
        for module, mode in zip(layers.modules(), modes, strict=True):
            module.training = mode
    return seen


def _make_module(row: CustomRow, stand_in: nn.Module, channels_in: dict[int, int]) -> nn.Module:
    cls = CUSTOM_MODULES[row.name]
    try:
        if row.name in UPSAMPLE_MODULES:
            return cls(channels_in[row.index], *row.args)
        conv = stand_in.conv
        return cls(conv.in_channels, conv.out_channels, *row.args[1:])
    except (ValueError, TypeError) as error:
        raise BuildError(f"layer {row.index} {row.name}{row.args}: {error}") from None


def replace_stand_ins(layers: nn.Sequential, rows: list[CustomRow], input_channels: int) -> None:
    """Swap each stand-in layer for its custom module, keeping Ultralytics' per-layer metadata."""
    upsample_rows = {row.index for row in rows if row.name in UPSAMPLE_MODULES}
    channels_in = _channels_into(layers, upsample_rows, input_channels) if upsample_rows else {}
    for row in rows:
        stand_in = layers[row.index]
        module = _make_module(row, stand_in, channels_in)
        module.i, module.f = stand_in.i, stand_in.f
        module.type = f"{type(module).__module__}.{type(module).__name__}"
        module.np = sum(p.numel() for p in module.parameters())
        layers[row.index] = module


def _wrap(parse_model):
    def parse_model_with_custom_rows(d, ch, verbose=True):
        stock_dict, rows = swap_custom_rows(d)
        layers, save = parse_model(stock_dict, ch, verbose)
        if rows:
            replace_stand_ins(layers, rows, ch)
        return layers, save

    parse_model_with_custom_rows.shapenas_original = parse_model
    return parse_model_with_custom_rows


def install() -> None:
    """Make Ultralytics build our modules from YAML rows. Idempotent; called by `import shapenas`."""
    from ultralytics.nn import tasks

    if not hasattr(tasks.parse_model, "shapenas_original"):
        tasks.parse_model = _wrap(tasks.parse_model)


def model_file_stem(base: str, scale: str | None) -> str:
    """A file name for a rendered model YAML from which Ultralytics reads back `scale` (it guesses the scale from
    names like yolov8n.yaml); a base name carrying another letter would make it look for a scale that was dropped."""
    from ultralytics.nn.tasks import guess_model_scale

    stem = Path(base).stem
    return stem if guess_model_scale(stem + ".yaml") == (scale or "") else "model"


def build_model(model_dict: dict, verbose: bool = False):
    """Build an Ultralytics `DetectionModel` from a model YAML dict (custom rows included)."""
    from ultralytics.nn.tasks import DetectionModel

    install()
    return DetectionModel(copy.deepcopy(model_dict), verbose=verbose)
