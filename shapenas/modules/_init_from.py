"""Shared pieces of the function-preserving initialisations (`init_from_conv`) of the conv replacements.

A swapped-in module starts from the trained layer it replaces: it computes what `bn(conv(x))` computed, exactly where
its structure allows. See the module files for each rule and /shared notes `warm_start.md` for the evidence.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["check_replaces_conv", "copy_batchnorm", "zero_sum_noise"]


def check_replaces_conv(name: str, module: nn.Module, conv: nn.Conv2d, k: int | None, stride: int, groups: int) -> None:
    """`ValueError` naming the first mismatch between `module` and the padded convolution it should start from."""
    want = {
        "in_channels": module.c1,
        "out_channels": module.c2,
        "stride": (stride, stride),
        "groups": groups,
        "dilation": (1, 1),
    }
    if k is not None:
        want["kernel_size"] = (k, k)
        want["padding"] = (k // 2, k // 2)
    for attr, value in want.items():
        got = getattr(conv, attr)
        if got != value:
            raise ValueError(f"{name}: cannot start from {conv}: {attr} is {got}, this layer needs {value}")


def copy_batchnorm(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    """Affine parameters, running statistics and eps: the normalisation the parent applied."""
    if dst.num_features != src.num_features:
        raise ValueError(f"BatchNorm: {src.num_features} features cannot start {dst.num_features}")
    dst.load_state_dict(src.state_dict())
    dst.eps = src.eps


def zero_sum_noise(count: int, like: torch.Tensor, spread: float, generator: torch.Generator | None) -> torch.Tensor:
    """`count` perturbations of `like`'s shape that sum to zero, each of standard deviation about `spread * std(like)`.

    Identical experts (or candidate kernels) get identical gradients and would never separate; zero-sum noise makes
    them differ while their mean, and so the function at initialisation, stays exactly the same.
    """
    if count == 1 or spread == 0:
        return torch.zeros(count, *like.shape, dtype=like.dtype)
    noise = torch.randn(count, *like.shape, generator=generator, dtype=torch.float64)
    noise = noise - noise.mean(0, keepdim=True)
    scale = spread * float(like.double().std()) * (count / (count - 1)) ** 0.5  # undo the centring's shrinkage
    return (noise * scale).to(like.dtype)
