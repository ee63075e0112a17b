"""BatchNorm folding for fused inference (each module's `fuse()`).

In eval mode a BatchNorm2d is a per-channel affine map, `bn(y) = scale * y + shift`, with `scale = weight /
sqrt(running_var + eps)` and `shift = bias - running_mean * scale`. Anything linear per output channel before it
(a convolution, a per-sample convolution, a per-channel multiplication) can absorb `scale`; `shift` becomes a bias.
The arithmetic runs in float64 and is cast back, so folding adds no rounding beyond the final cast.
"""

from __future__ import annotations

import torch
from torch import nn


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """`(scale, shift)`, each `(C,)` in float64, with `bn(y) == scale * y + shift` per channel in eval mode."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return scale, bn.bias.double() - bn.running_mean.double() * scale


@torch.no_grad()
def scaled_conv(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor | None = None) -> nn.Conv2d:
    """A new convolution computing `scale * conv(x) + shift` per output channel in one op: weights scaled, and a bias
    (the old one scaled, plus `shift`) when either exists."""
    has_bias = conv.bias is not None or shift is not None
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=has_bias,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    fused.weight.copy_(conv.weight.double() * scale.view(-1, 1, 1, 1))
    if has_bias:
        bias = conv.bias.double() * scale if conv.bias is not None else torch.zeros_like(scale)
        fused.bias.copy_(bias + (shift if shift is not None else 0.0))
    return fused.requires_grad_(False)  # for inference only, as Ultralytics' own fused convs


def fold_into_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution computing `bn(conv(x))` (eval mode) in one op."""
    return scaled_conv(conv, *bn_scale_shift(bn))


@torch.no_grad()
def fold_into_kernels(kernels: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[nn.Parameter, nn.Parameter]:
    """Candidate kernels `(K, c2, c1/groups, k, k)` of a dynamic convolution followed by `bn`, folded: every kernel
    scaled along `c2`, stored flat `(K*c2, c1/groups, k, k)` as the modules keep them, and the shift as a bias `(c2,)`.
    """
    scale, shift = bn_scale_shift(bn)
    scaled = kernels.double() * scale.view(1, -1, 1, 1, 1)
    weight = scaled.reshape(-1, *kernels.shape[2:]).to(kernels.dtype)
    return nn.Parameter(weight, requires_grad=False), nn.Parameter(shift.to(kernels.dtype), requires_grad=False)
