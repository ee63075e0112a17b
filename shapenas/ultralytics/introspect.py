"""What shapenas reads from a built Ultralytics model (`DetectionModel`): its layers, stride and input channels."""

from __future__ import annotations

import torch
from torch import nn

from shapenas.ultralytics.probe import channels_into


def layers(model: nn.Module) -> nn.Sequential:
    """The model's layers in YAML row order (each carries `i`, its row index, and `f`, its input)."""
    return model.model


def model_stride(model: nn.Module, floor: int = 32) -> int:
    """The largest stride of the model's outputs, at least `floor` (32 when the model does not say)."""
    stride = getattr(model, "stride", None)
    return max(int(stride.max()), floor) if isinstance(stride, torch.Tensor) else floor


def input_channels(model: nn.Module) -> int:
    """Channels of the image the model takes (its YAML's `channels`, 3 unless set)."""
    model_dict = getattr(model, "yaml", None)
    return int(model_dict.get("channels", 3)) if isinstance(model_dict, dict) else 3


def layer_conv(model: nn.Module, index: int) -> nn.Conv2d | None:
    """The convolution of layer `index` when it is a stock `Conv` (its `conv` attribute), else None."""
    conv = getattr(layers(model)[index], "conv", None)
    return conv if isinstance(conv, nn.Conv2d) else None


def layer_input_channels(model: nn.Module, indices: set[int]) -> dict[int, int]:
    """Channels entering each of the layers `indices`, from one small forward pass."""
    return channels_into(layers(model), indices, input_channels(model))
