"""DynamicConv from "ParameterNet: Parameters Are All You Need for Large-scale Visual Pretraining of
Mobile Networks" (Han et al., CVPR 2024).

Paper: https://arxiv.org/abs/2306.14525

E expert kernels mixed per sample by independent sigmoid gates computed from the globally pooled
input: many more parameters for few extra FLOPs. Drop-in for Ultralytics ``Conv`` (BN + SiLU
after). YAML row: ``DynamicConv: [c2, k, s, num_experts]``.

The batch is folded into the groups of one convolution (``per_sample_conv``), so ONNX export is
static-batch. Ultralytics' own GFLOPs count sees only the routing Linear, not the main convolution;
``extra_macs`` supplies the rest.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from shapenas.modules._checks import check_divisible, check_int, check_odd_int
from shapenas.modules._experts import ExpertConv
from shapenas.modules.dynamic_kernel import per_sample_conv

__all__ = ["DynamicConv"]


def _check_args(c1: int, c2: int, k: int, s: int, num_experts: int, groups: int) -> None:
    """Raise ValueError naming the first impossible argument."""
    for name, value in (("c1", c1), ("c2", c2), ("s", s), ("num_experts", num_experts), ("groups", groups)):
        check_int("DynamicConv", name, value)
    check_odd_int("DynamicConv", "k", k)
    check_divisible("DynamicConv", {"c1": c1, "c2": c2}, "groups", groups)


class DynamicConv(ExpertConv):
    """Mixture-of-experts convolution + BN + SiLU.

    ``x: (B, c1, H, W) -> (B, c2, floor((H-1)/s)+1, floor((W-1)/s)+1)`` (padding ``k // 2``).

    Parameters: ``weight (E, c2, c1/groups, k, k)``, ``routing`` Linear(c1 -> E) with bias, ``bn``;
    total ``E*c2*(c1/groups)*k*k + c1*E + E + 2*c2``. No convolution bias (BN follows).
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, num_experts: int = 4, groups: int = 1):
        super().__init__()
        _check_args(c1, c2, k, s, num_experts, groups)
        self.c1, self.c2, self.k, self.s, self.groups, self.num_experts = c1, c2, k, s, groups, num_experts
        self.weight = self._expert_weight(num_experts)  # 4-D, viewed 5-D by kernels() (see ExpertConv)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.routing = nn.Linear(c1, num_experts)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each expert initialised like an ``nn.Conv2d`` weight, as timm's CondConv2d (used by ParameterNet) does."""
        for i in range(self.num_experts):
            nn.init.kaiming_uniform_(self.kernels()[i], a=math.sqrt(5))
        self.routing.reset_parameters()

    def _start_scale(self) -> float:
        """``2/E``: with the routing zeroed every gate is ``sigmoid(0) = 0.5``, so ``sum_e 0.5 * W_e`` is ``W``."""
        return 2.0 / self.num_experts

    @torch.no_grad()
    def _zero_gates(self) -> None:
        nn.init.zeros_(self.routing.weight)
        nn.init.zeros_(self.routing.bias)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, bn: nn.BatchNorm2d, num_experts: int = 4, **init) -> DynamicConv:
        """A DynamicConv that starts as ``act(bn(conv(x)))``; see ``init_from_conv``."""
        k, s = conv.kernel_size[0], conv.stride[0]
        module = cls(conv.in_channels, conv.out_channels, k, s, num_experts, conv.groups)
        module.init_from_conv(conv, bn, **init)
        return module

    def routing_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Independent gates ``sigmoid(Linear(GAP(x)))``: ``(B, c1, H, W) -> (B, E)``."""
        return torch.sigmoid(self.routing(self.pool(x).flatten(1)))

    def aggregate(self, r: torch.Tensor) -> torch.Tensor:
        """Per-sample kernel ``sum_e r[:, e] * W_e``: ``(B, E) -> (B, c2, c1/groups, k, k)``."""
        w = r @ self.weight.reshape(self.num_experts, -1)  # (B, c2*c1/groups*k*k)
        return w.reshape(r.shape[0], self.c2, self.c1 // self.groups, self.k, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c1, H, W) -> (B, c2, h, w)``."""
        weight = self.aggregate(self.routing_weights(x))
        return self.act(self.bn(per_sample_conv(x, weight, None, self.s, self.k // 2, self.groups)))

    def extra_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """MACs outside child modules for ``forward(x) -> y``, with (h, w) = y's size:

        - kernel aggregation: ``B*E*c2*(c1/groups)*k*k``
        - main per-sample convolution: ``B*c2*h*w*(c1/groups)*k*k``

        The pool, routing Linear, BN and SiLU are child modules, counted elsewhere.
        """
        b = x.shape[0]
        h, w = y.shape[-2:]
        n = self.c2 * (self.c1 // self.groups) * self.k * self.k
        return int(b * self.num_experts * n + b * h * w * n)

    def extra_repr(self) -> str:
        return (
            f"c1={self.c1}, c2={self.c2}, k={self.k}, s={self.s}, num_experts={self.num_experts}, groups={self.groups}"
        )

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold ``bn`` for inference (eval-mode statistics): ``bn`` is removed and ``forward`` becomes
        ``forward_fuse``. Does nothing once fused.

        Eval-mode BN is ``scale * y + shift`` per output channel, and the per-sample convolution is linear in its
        kernel, whose output channel axis every expert shares: ``scale * conv(x, sum_e r_e W_e) = conv(x, sum_e r_e
        (scale * W_e))``. So every expert is scaled along ``c2`` (in place of ``weight``) and ``shift`` becomes the
        convolution's ``bias`` (c2,). Exact for any routing.
        """
        self._fold_bn()

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` after ``fuse()``: the experts carry BN's scale, ``bias`` its shift."""
        weight = self.aggregate(self.routing_weights(x))
        bias = self.bias.expand(x.shape[0], -1)
        return self.act(per_sample_conv(x, weight, bias, self.s, self.k // 2, self.groups))
