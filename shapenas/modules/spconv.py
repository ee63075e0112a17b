"""SPConv: "Split to Be Slim: An Overlooked Redundancy in Vanilla Convolution" (IJCAI 2020).

Paper: https://arxiv.org/abs/2006.12085

A drop-in replacement for a 3x3 Ultralytics ``Conv``: the input channels are split into a
"representative" part, processed by a 3x3 group convolution plus a 1x1 convolution, and a
"redundant" part, processed by a cheap 1x1 convolution. The two branch outputs are fused
without parameters by a per-channel softmax over their global averages.

YAML row: ``SPConv: [c2, k, s, ratio]`` (k must be 3).

Differences from the authors' code, all deliberate:

- Odd H/W at stride 2: the authors' 2x2 average pool floors the size while the stride-2 3x3
  convolution gives ``ceil(H/2)``, so the branch sum crashes. We pool with ``ceil_mode=True``;
  the last, partial window averages only the pixels it covers.
- Odd channel splits: the 3x3 group conv has 2 groups, so the representative channel count is
  ``int(c1 * ratio)`` rounded *down* to an even number; impossible splits raise ``ValueError``
  at construction instead of failing in ``forward``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shapenas.modules._checks import check_fraction, check_int
from shapenas.modules._fold import bn_scale_shift, fold_into_conv, scaled_conv
from shapenas.modules._init_from import check_replaces_conv

__all__ = ["SPConv"]


def _split_channels(c1: int, ratio: float) -> tuple[int, int]:
    """Representative / redundant channel counts for ``c1`` input channels.

    The representative count is even because it feeds a convolution with 2 groups.
    """
    check_fraction("SPConv", "ratio", ratio, one_allowed=False)
    c_rep = int(c1 * ratio) // 2 * 2
    c_red = c1 - c_rep
    if c_rep < 2 or c_red < 1:
        raise ValueError(
            f"SPConv: cannot split c1={c1} with ratio={ratio}: it gives {c_rep} representative "
            f"channels (need an even number >= 2 for the 2-group 3x3 conv) and {c_red} redundant "
            f"channels (need >= 1); use a plain Conv here (e.g. on the RGB input) or change ratio"
        )
    return c_rep, c_red


def _merge_branches(y_rep: torch.Tensor, y_red: torch.Tensor) -> torch.Tensor:
    """The parameter-free fusion: per sample and output channel, softmax over the two branches' global averages
    weighs the branches. ``(B, c2, h, w)`` twice -> ``(B, c2, h, w)``."""
    logits = torch.stack((y_rep.mean((2, 3)), y_red.mean((2, 3))), dim=-1)  # (B, c2, 2)
    w = logits.softmax(dim=-1)[..., None, None]  # (B, c2, 2, 1, 1)
    return y_rep * w[:, :, 0] + y_red * w[:, :, 1]


class SPConv(nn.Module):
    """Split-based 3x3 convolution with parameter-free branch fusion, followed by SiLU.

    Shapes: ``x: (B, c1, H, W) -> (B, c2, ceil(H/s), ceil(W/s))``, i.e. the same size as a
    3x3 ``Conv`` with padding 1 (``floor((H-1)/s)+1``).

    Args:
        c1: input channels; split into ``c_rep`` (even, ``int(c1*ratio)`` rounded down to even)
            representative and ``c_red = c1 - c_rep`` redundant channels.
        c2: output channels; must be even (the 3x3 group conv has 2 groups).
        k: kernel size; only 3 is defined by the paper.
        s: stride, 1 or 2 (2 average-pools 2x2 before the 1x1 convolutions, as in the paper).
        ratio: fraction of input channels treated as representative, in (0, 1).

    There is no final BatchNorm (no ``bn`` attribute): each branch already ends in its own BN
    (``bn_rep``, ``bn_red``) and the fusion is a convex per-channel combination of the two
    normalised maps, so the fused output is already normalised; an extra BN would only add
    parameters the paper does not have. Only the ``act`` SiLU is added, so the module has the
    same non-linearity as the ``Conv`` it replaces.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, ratio: float = 0.5) -> None:
        super().__init__()
        c1, c2, k, s = (check_int("SPConv", name, v) for name, v in (("c1", c1), ("c2", c2), ("k", k), ("s", s)))
        if k != 3:
            raise ValueError(f"SPConv: k must be 3 (the paper defines only 3x3), got {k}")
        if s not in (1, 2):
            raise ValueError(f"SPConv: s must be 1 or 2, got {s}")
        if c2 < 2 or c2 % 2:
            raise ValueError(f"SPConv: c2 must be even and >= 2 (3x3 conv has 2 groups), got {c2}")
        self.c1, self.c2, self.s, self.ratio = c1, c2, s, ratio
        self.c_rep, self.c_red = _split_channels(c1, ratio)
        self.gwc = nn.Conv2d(self.c_rep, c2, 3, s, padding=1, groups=2, bias=False)
        self.pwc = nn.Conv2d(self.c_rep, c2, 1, bias=False)
        self.bn_rep = nn.BatchNorm2d(c2)
        self.conv_red = nn.Conv2d(self.c_red, c2, 1, bias=True)
        self.bn_red = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every convolution and BatchNorm as PyTorch initialises it (the paper adds no init of its own)."""
        for m in (self.gwc, self.pwc, self.bn_rep, self.conv_red, self.bn_red):
            m.reset_parameters()

    @torch.no_grad()
    def init_from_conv(
        self, conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor | None = None, generator=None
    ) -> None:
        """Start near ``act(bn(conv(x)))`` of a padded 3x3 ``conv`` (same c1, c2, s); approximate by construction.

        Split ``W`` by input channels like the module splits its input. The representative part keeps the two
        diagonal blocks of its 3x3 weights in ``gwc`` (its two groups); its off-diagonal blocks, and the whole
        redundant part, become 1x1 weights holding the sum of their nine taps (a pixel's neighbours stand in for it
        on smooth maps; at stride 2 the 1x1 paths see a 2x2 average). Each branch's BatchNorm doubles the parent's
        scale and takes part of its mean: half of each branch then sums to the parent's normalised output. How the
        mean is split does not change that sum, only the fusion weights (a softmax of the branch means), so it is
        split to make both branches' means equal on ``x`` (a sample of this layer's real input, when given; else
        evenly), and the fusion weighs them about half and half. ``shapenas.inherit_weights`` passes the parent's
        own activations, then measures and records the error. ``ValueError`` if the conv does not fit.
        Nothing random: ``generator`` is unused.
        """
        check_replaces_conv("SPConv", self, conv, 3, self.s, 1)
        w, half_in, half_out = conv.weight, self.c_rep // 2, self.c2 // 2
        grouped = torch.zeros_like(self.gwc.weight)
        grouped[:half_out] = w[:half_out, :half_in]
        grouped[half_out:] = w[half_out:, half_in : self.c_rep]
        self.gwc.weight.copy_(grouped)
        cross = w[:, : self.c_rep].sum((2, 3))
        cross[:half_out, :half_in] = 0
        cross[half_out:, half_in : self.c_rep] = 0
        self.pwc.weight.copy_(cross[:, :, None, None])
        self.conv_red.weight.copy_(w[:, self.c_rep :].sum((2, 3))[:, :, None, None])
        nn.init.zeros_(self.conv_red.bias)
        gap = torch.zeros_like(bn.running_mean)
        if x is not None:  # the two branches' mean outputs before normalisation, on the sample
            x_rep, x_red = x[:, : self.c_rep], x[:, self.c_rep :]
            rep = self.gwc(x_rep) + self.pwc(self._pool(x_rep))
            gap = rep.mean((0, 2, 3)) - self.conv_red(self._pool(x_red)).mean((0, 2, 3))
        for branch, sign in ((self.bn_rep, 1), (self.bn_red, -1)):
            branch.running_mean.copy_((bn.running_mean + sign * gap) / 2)
            branch.running_var.copy_(bn.running_var)
            branch.weight.copy_(2 * bn.weight)
            branch.bias.copy_(bn.bias)
            branch.eps = bn.eps

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, bn: nn.BatchNorm2d, ratio: float = 0.5, x: torch.Tensor | None = None):
        """An SPConv that starts near a padded 3x3 ``conv``; see ``init_from_conv``."""
        module = cls(conv.in_channels, conv.out_channels, 3, conv.stride[0], ratio)
        module.init_from_conv(conv, bn, x)
        return module

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """2x2 average pool at stride 2; ceil_mode so odd sizes match the 3x3 conv's ceil(H/2)."""
        if self.s == 1:
            return x
        return F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c1, H, W) -> (B, c2, ceil(H/s), ceil(W/s))``."""
        x_rep, x_red = x[:, : self.c_rep], x[:, self.c_rep :]
        y_rep = self.bn_rep(self.gwc(x_rep) + self.pwc(self._pool(x_rep)))
        y_red = self.bn_red(self.conv_red(self._pool(x_red)))
        return self.act(_merge_branches(y_rep, y_red))

    def extra_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """Multiply-accumulates of ``forward(x) -> y`` outside the child modules.

        With ``B, c1, H, W = x.shape`` and ``_, c2, h, w = y.shape``, counting 1 per element:

        - avg-pools (only when ``s == 2``, done functionally): 1 add per input element of
          both branches, ``B * c1 * H * W``;
        - branch sum ``gwc + pwc``: ``B * c2 * h * w``;
        - global averages: ``B * c2 * h * w`` per branch, ``2 * B * c2 * h * w``;
        - softmax: 1 per logit, ``2 * B * c2``;
        - weighted sum: one MAC per element per branch, ``2 * B * c2 * h * w``.

        Total ``(s == 2) * B*c1*H*W + 5 * B*c2*h*w + 2 * B*c2``. The SiLU is not counted
        (as for Ultralytics ``Conv``).
        """
        b, c1, hi, wi = x.shape
        _, c2, h, w = y.shape
        pool = b * c1 * hi * wi if self.s == 2 else 0
        return int(pool + 5 * b * c2 * h * w + 2 * b * c2)

    def extra_repr(self) -> str:
        return f"c1={self.c1}, c2={self.c2}, s={self.s}, ratio={self.ratio}, c_rep={self.c_rep}"

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold both branch BatchNorms for inference (eval-mode statistics): ``bn_rep`` and ``bn_red`` are removed and
        ``forward`` becomes ``forward_fuse``. Does nothing once fused.

        Folded: ``bn_red`` into ``conv_red`` (weights scaled, bias scaled and shifted); ``bn_rep``, which follows the
        sum ``gwc + pwc``, scales both convolutions' weights per output channel, and its shift becomes ``gwc``'s
        bias. Left unfused, on purpose: the representative branch keeps its two convolutions (merging the dense 1x1
        ``pwc`` into the 2-group 3x3 ``gwc`` would make that conv dense, 9 instead of 5.5 multiply-accumulates per
        input and output channel pair, and at stride 2 the pool's partial windows at odd sizes average fewer pixels,
        which no fixed conv tap does), and the branch fusion, a softmax over each branch's global average, depends on
        the input and has nothing to fold.
        """
        if not hasattr(self, "bn_rep"):
            return
        scale, shift = bn_scale_shift(self.bn_rep)
        self.gwc, self.pwc = scaled_conv(self.gwc, scale, shift), scaled_conv(self.pwc, scale)
        self.conv_red = fold_into_conv(self.conv_red, self.bn_red)
        del self.bn_rep, self.bn_red
        self.forward = self.forward_fuse

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` after ``fuse()``: each branch's convolutions carry its BatchNorm."""
        x_rep, x_red = x[:, : self.c_rep], x[:, self.c_rep :]
        y_rep = self.gwc(x_rep) + self.pwc(self._pool(x_rep))
        return self.act(_merge_branches(y_rep, self.conv_red(self._pool(x_red))))
