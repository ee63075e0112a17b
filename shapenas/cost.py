"""Parameters and GFLOPs that count what really runs, for stock layers and for our modules alike.

Stock layers are counted by thop's rules, the same counter Ultralytics' own GFLOPs figure uses, so stock models agree
with Ultralytics. Our modules do part of their work functionally (per-sample convolutions, kernel aggregation,
bilinear sampling), which thop cannot see; each declares that work in `extra_macs(x, y)`, added here through thop's
`custom_ops`. Convention, as Ultralytics': one multiply-accumulate (MAC) counts as 2 FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import thop
import torch
from torch import nn

from shapenas.modules import AKConv, DynamicConv, DySample, ODConv, SPConv

MODULES_WITH_EXTRA_WORK = (AKConv, ODConv, SPConv, DynamicConv, DySample)


@dataclass(frozen=True)
class Cost:
    params: int
    gflops: float


def _count_extra_work(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    # thop resets `total_ops` on every module before each profiled pass; child modules keep their own rules.
    module.total_ops += int(module.extra_macs(inputs[0], output))


def _stride(model: nn.Module) -> int:
    stride = getattr(model, "stride", None)
    return max(int(stride.max()), 32) if isinstance(stride, torch.Tensor) else 32


def count_macs(model: nn.Module, imgsz: int | tuple[int, int], channels: int = 3) -> float:
    """Multiply-accumulates of one forward pass of a batch of one image at `imgsz` (int or (h, w))."""
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    parameter = next(model.parameters())
    image = torch.empty(1, channels, height, width, dtype=parameter.dtype, device=parameter.device)
    rules = {cls: _count_extra_work for cls in MODULES_WITH_EXTRA_WORK}
    macs, _ = thop.profile(model, inputs=[image], custom_ops=rules, stride=_stride(model), verbose=False)
    return float(macs)


def count_params(model: nn.Module) -> int:
    """Every parameter, shared tensors once; frozen ones too (DFL's fixed conv), as Ultralytics counts them."""
    return sum(p.numel() for p in model.parameters())


def _input_channels(model: nn.Module) -> int:
    model_dict = getattr(model, "yaml", None)
    return int(model_dict.get("channels", 3)) if isinstance(model_dict, dict) else 3


def model_cost(model: nn.Module, imgsz: int | tuple[int, int] = 640) -> Cost:
    """Parameters and GFLOPs (2 x MACs / 1e9) of `model` for one image of size `imgsz`."""
    macs = count_macs(model, imgsz, _input_channels(model))
    return Cost(params=count_params(model), gflops=2 * macs / 1e9)


def yaml_cost(model_dict: dict, imgsz: int | tuple[int, int] = 640) -> Cost:
    """Cost of the model a YAML dict describes, built on the CPU."""
    from shapenas.ultralytics_bridge import build_model

    return model_cost(build_model(model_dict), imgsz)
