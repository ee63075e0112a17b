"""Trained-like state for module tests: random norm statistics and affines, and each module's own extras (AKConv and
DySample offsets away from zero, ODConv temperature != 1), so that equalities are not met trivially by a module that
still samples its initial points or normalises with BatchNorm's identity statistics."""

from __future__ import annotations

import torch
from torch import nn


def randomize_norms(module: nn.Module, g: torch.Generator) -> None:
    """Random running statistics for every BatchNorm2d, random affines for every BatchNorm2d and GroupNorm."""
    for norm in module.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.running_mean.copy_(torch.randn(norm.num_features, generator=g) * 0.5)
            norm.running_var.copy_(torch.rand(norm.num_features, generator=g) * 1.5 + 0.5)
        if isinstance(norm, (nn.BatchNorm2d, nn.GroupNorm)):
            norm.weight.copy_(1 + 0.2 * torch.randn(norm.weight.shape, generator=g))
            norm.bias.copy_(0.2 * torch.randn(norm.bias.shape, generator=g))


def akconv_offsets(m: nn.Module, g: torch.Generator) -> None:
    """Fractional offsets, some of them past the border (the clamped path)."""
    m.p_conv.weight.copy_(torch.randn(m.p_conv.weight.shape, generator=g) * 0.3)
    m.p_conv.bias.copy_(torch.randn(m.p_conv.bias.shape, generator=g) * 2)


def odconv_temperature(m: nn.Module, g: torch.Generator) -> None:
    m.temperature = 2.0


def dysample_offsets(m: nn.Module, g: torch.Generator) -> None:
    """Offsets large enough that sampling points move across pixels (a wrong grid shows)."""
    for p in list(m.offset.parameters()) + (list(m.scope.parameters()) if m.dyscope else []):
        p.copy_(torch.randn(p.shape, generator=g) * 0.5)


EXTRAS = {"AKConv": akconv_offsets, "ODConv": odconv_temperature, "DySample": dysample_offsets}


@torch.no_grad()
def make_trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """A whole model (or one module) trained-like: every norm randomized, then each registered module's extras."""
    g = torch.Generator().manual_seed(seed)
    randomize_norms(model, g)
    for module in model.modules():
        extra = EXTRAS.get(type(module).__name__)
        if extra is not None:
            extra(module, g)
    return model
