"""The channels entering given layers of an Ultralytics layer stack, read from one small forward pass.

The YAML cannot tell them (width scaling, `max_channels` and each block's own rule decide), and a layer such as
`nn.Upsample` does not record them, so a zero image is run through the stack, routed by each layer's `f` (its input:
-1 for the previous layer, an index, or a list of them) as Ultralytics' own forward routes it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

PROBE_SIZE = 64  # input side in pixels: any multiple of the largest stride (32) will do, only channels are read


def channels_into(layers: nn.Sequential, wanted: set[int], input_channels: int) -> dict[int, int]:
    """Channels entering each layer whose index `i` is in `wanted`; the forward pass stops at the last one."""
    seen: dict[int, int] = {}
    if not wanted:
        return seen
    outputs: list[Any] = []
    x: Any = torch.zeros(1, input_channels, PROBE_SIZE, PROBE_SIZE)
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
