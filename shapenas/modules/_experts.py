"""The part ODConv and DynamicConv share: several candidate kernels ("experts") mixed per sample, then BN + SiLU.

Both store their kernels 4-D as `(n*c2, c1/groups, k, k)` (Ultralytics moves checkpoints with
`.to(memory_format=...)`, which rejects 5-D tensors) and view them as `(n, c2, c1/groups, k, k)` wherever they are
used; both start from a trained `Conv` with every kernel a scaled copy of its weight plus zero-sum noise, and both
fold their BatchNorm into the kernels. Each module keeps its own count's name (`kernel_num`, `num_experts`), routing,
initialisation and the arithmetic that makes its start and its folding exact (in their docstrings).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from shapenas.modules._fold import fold_into_kernels
from shapenas.modules._init_from import check_replaces_conv, copy_batchnorm, zero_sum_noise
from shapenas.modules._pickled import renamed_attributes


class ExpertConv(nn.Module):
    """Base of a convolution with `count` candidate kernels `weight (count*c2, c1/groups, k, k)`, `bn` and `act`.

    The subclass sets `c1, c2, k, s, groups` and calls `_expert_weight(count)` in `__init__`."""

    c1: int
    c2: int
    k: int
    s: int
    groups: int

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(renamed_attributes(state, {"g": "groups"}))

    def _expert_weight(self, count: int) -> nn.Parameter:
        return nn.Parameter(torch.empty(count * self.c2, self.c1 // self.groups, self.k, self.k))

    def kernels(self) -> torch.Tensor:
        """The candidate kernels as a view of shape (count, c2, c1/groups, k, k)."""
        return self.weight.view(-1, self.c2, self.c1 // self.groups, self.k, self.k)

    @torch.no_grad()
    def init_from_conv(
        self,
        conv: nn.Conv2d,
        bn: nn.BatchNorm2d,
        x: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        spread: float = 0.1,
    ) -> None:
        """Start computing exactly what ``act(bn(conv(x)))`` computed (same c1, c2, k, s, groups).

        Every kernel is ``W * _start_scale()`` plus zero-sum noise (``spread`` of its spread) and the gates are zeroed
        (``_zero_gates``): the subclass's arithmetic makes the mix of kernels ``W`` for every input, and the noise lets
        the kernels, and the gates that tell them apart, separate in training (sparse upcycling's idea for
        convolutions). BatchNorm is copied. ``ValueError`` if the conv does not fit. No input sample ``x`` is needed.
        """
        check_replaces_conv(type(self).__name__, self, conv, self.k, self.s, self.groups)
        base = conv.weight * self._start_scale()
        count = self.weight.shape[0] // self.c2
        self.weight.copy_((base.unsqueeze(0) + zero_sum_noise(count, base, spread, generator)).reshape_as(self.weight))
        copy_batchnorm(self.bn, bn)
        self._zero_gates()

    def _start_scale(self) -> float:
        raise NotImplementedError

    def _zero_gates(self) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def _fold_bn(self) -> None:
        """`bn` folded into the kernels (scaled along c2) and a `bias` (c2,); `forward` becomes `forward_fuse`."""
        if not hasattr(self, "bn"):
            return
        self.weight, self.bias = fold_into_kernels(self.kernels(), self.bn)
        del self.bn
        self.forward = self.forward_fuse
