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

from shapenas.modules.registry import MODULES
from shapenas.ultralytics.introspect import input_channels, model_stride


@dataclass(frozen=True)
class Cost:
    params: int
    gflops: float


def _count_extra_work(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    # thop resets `total_ops` on every module before each profiled pass; child modules keep their own rules.
    module.total_ops += int(module.extra_macs(inputs[0], output))


def count_macs(model: nn.Module, imgsz: int | tuple[int, int], channels: int = 3) -> float:
    """Multiply-accumulates of one forward pass of a batch of one image at `imgsz` (int or (h, w))."""
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    parameter = next(model.parameters())
    image = torch.empty(1, channels, height, width, dtype=parameter.dtype, device=parameter.device)
    # every registered module declares the work thop cannot see in `extra_macs` (docs/MODULE_CONTRACT.md)
    rules = {spec.cls: _count_extra_work for spec in MODULES.values()}
    macs, _ = thop.profile(model, inputs=[image], custom_ops=rules, stride=model_stride(model), verbose=False)
    return float(macs)


def count_params(model: nn.Module) -> int:
    """Every parameter, shared tensors once; frozen ones too (DFL's fixed conv), as Ultralytics counts them."""
    return sum(p.numel() for p in model.parameters())


def model_cost(model: nn.Module, imgsz: int | tuple[int, int] = 640) -> Cost:
    """Parameters and GFLOPs (2 x MACs / 1e9) of `model` for one image of size `imgsz`."""
    macs = count_macs(model, imgsz, input_channels(model))
    return Cost(params=count_params(model), gflops=2 * macs / 1e9)


def yaml_cost(model_dict: dict, imgsz: int | tuple[int, int] = 640) -> Cost:
    """Cost of the model a YAML dict describes, built on the CPU."""
    from shapenas.ultralytics.build import build_model

    return model_cost(build_model(model_dict), imgsz)
