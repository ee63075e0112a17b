"""DySample: "Learning to Upsample by Learning to Sample" (ICCV 2023).

Paper: https://arxiv.org/abs/2308.15085

A drop-in replacement for ``nn.Upsample``: the channels are kept and the size is multiplied by
``scale``. A 1x1 convolution predicts, per channel group, a sub-pixel offset for every output
pixel; the input is then sampled bilinearly at the initial (bilinear-upsampling) positions plus
the offsets.

YAML row: ``DySample: [scale, style, groups, dyscope]`` (replaces an ``nn.Upsample`` row).

Differences from the authors' code, all deliberate:

- The sampling grid is built from the input's runtime shape with ``torch.arange`` and divisions
  by the traced sizes, so an ONNX export with dynamic H/W is correct at other sizes (the
  original builds a normaliser with ``torch.tensor([W, H])``, which the exporter bakes in).
- Coordinates are computed in (at least) float32 with autocast disabled, so fp16 training does
  not quantise sampling positions; the output is cast back to the input's dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DySample"]

_STYLES = ("lp", "pl")


def _check_args(c: int, scale: int, style: str, groups: int) -> None:
    """Raise ``ValueError`` naming the bad values for impossible configurations."""
    if style not in _STYLES:
        raise ValueError(f"DySample: style must be one of {_STYLES}, got {style!r}")
    if not isinstance(scale, int) or scale < 2:
        raise ValueError(f"DySample: scale must be an integer >= 2, got {scale}")
    if groups < 1 or c % groups:
        raise ValueError(f"DySample: c must be divisible by groups, got c={c}, groups={groups}")
    if style == "pl" and (c % scale**2 or c // scale**2 < groups):
        raise ValueError(
            f"DySample: style 'pl' needs c divisible by scale**2 and c/scale**2 >= groups, "
            f"got c={c}, scale={scale}, groups={groups}"
        )


class DySample(nn.Module):
    """Dynamic point-sampling upsampler.

    Shapes: ``x: (B, c, H, W) -> (B, c, scale*H, scale*W)``.

    Args:
        c: channels (kept).
        scale: integer upsampling factor.
        style: ``"lp"`` predicts offsets on the low-res input with a 1x1 conv
            ``c -> 2*groups*scale**2``; ``"pl"`` pixel-shuffles first, predicts with a 1x1 conv
            ``c/scale**2 -> 2*groups`` and pixel-unshuffles the offsets back.
        groups: channel groups; each group of ``c/groups`` consecutive channels shares one
            offset field.
        dyscope: scale offsets by ``0.5*sigmoid(scope(x))`` (a bias-free 1x1 conv, weights
            initialised to 0, so it starts at 0.25) instead of the static 0.25.

    Offsets are in input-pixel units. The offset conv is initialised with weights N(0, 0.001)
    and zero bias, so at initialisation the output is (almost exactly) bilinear upsampling
    ``F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)``; it is exact
    when the offset conv weights are zero.
    """

    def __init__(self, c: int, scale: int = 2, style: str = "lp", groups: int = 4, dyscope: bool = False) -> None:
        super().__init__()
        _check_args(c, scale, style, groups)
        self.c, self.scale, self.style, self.groups, self.dyscope = c, scale, style, groups, dyscope
        c_in = c // scale**2 if style == "pl" else c
        c_out = 2 * groups if style == "pl" else 2 * groups * scale**2
        self.offset = nn.Conv2d(c_in, c_out, 1)
        nn.init.normal_(self.offset.weight, std=0.001)
        nn.init.zeros_(self.offset.bias)
        if dyscope:
            self.scope = nn.Conv2d(c_in, c_out, 1, bias=False)
            nn.init.zeros_(self.scope.weight)
        self.register_buffer("init_pos", self._init_pos())  # same state_dict keys as the original

    def _init_pos(self) -> torch.Tensor:
        """Sub-pixel positions of bilinear upsampling, ``(1, 2*groups*scale**2, 1, 1)``.

        Output pixel ``(i, j)`` of a ``scale x scale`` block sits at ``((j, i) - (scale-1)/2) /
        scale`` input pixels (x, y) from the input pixel's centre; layout ``(xy, group, i, j)``.
        """
        s = self.scale
        h = (torch.arange(s, dtype=torch.float32) - (s - 1) / 2) / s
        ii, jj = torch.meshgrid(h, h, indexing="ij")
        pos = torch.stack((jj, ii))  # (2, s, s): x varies along j, y along i
        return pos[:, None].expand(2, self.groups, s, s).reshape(1, -1, 1, 1).clone()

    def _offsets(self, x: torch.Tensor) -> torch.Tensor:
        """Offsets plus initial positions, ``(B, 2*groups*scale**2, H, W)``."""
        if self.style == "pl":
            x = F.pixel_shuffle(x, self.scale)
        off = self.offset(x)
        off = off * self.scope(x).sigmoid() * 0.5 if self.dyscope else off * 0.25
        if self.style == "pl":
            # pixel_unshuffle hands an empty batch back unchanged, so reshape to the known size ourselves then.
            b, c, h, w = off.shape
            s = self.scale
            off = F.pixel_unshuffle(off, s) if b else off.new_empty(0, c * s * s, h // s, w // s)
        return off + self.init_pos

    def _sample(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """Bilinearly sample ``x`` at pixel centres plus ``offset``; ``(B, c, sH, sW)``."""
        b, _, h, w = x.shape
        s, g = self.scale, self.groups
        dt = torch.promote_types(x.dtype, torch.float32)
        off = offset.to(dt).view(b, 2, g * s * s, h, w)
        # Sizes come from the runtime shape, so ONNX traces them as Shape ops, not constants.
        xs = torch.arange(w, device=x.device, dtype=dt) + 0.5
        ys = torch.arange(h, device=x.device, dtype=dt) + 0.5
        gx = (off[:, 0] + xs.view(1, 1, 1, w)) * 2 / w - 1  # grid_sample, align_corners=False
        gy = (off[:, 1] + ys.view(1, 1, h, 1)) * 2 / h - 1
        grid = torch.stack((gx, gy), 1).view(b, 2 * g * s * s, h, w)
        grid = F.pixel_shuffle(grid, s).view(b, 2, g, s * h, s * w)
        grid = grid.permute(0, 2, 3, 4, 1).reshape(b * g, s * h, s * w, 2)
        xg = x.to(dt).reshape(b * g, self.c // g, h, w)  # no -1: B may be 0
        y = F.grid_sample(xg, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return y.view(b, self.c, s * h, s * w).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c, H, W) -> (B, c, scale*H, scale*W)``."""
        offset = self._offsets(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._sample(x, offset)

    def extra_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """Multiply-accumulates of ``forward(x) -> y`` outside the child modules.

        With ``B, c, H, W = x.shape``, ``sH, sW = y.shape[-2:]``, ``g = groups``, ``s = scale``
        and ``n_off = B * 2*g*s*s * H * W`` offset elements (the same count at high resolution
        for ``"pl"``), counting 1 per element:

        - bilinear sampling: 4 MACs per output value, ``4 * B * c * sH * sW``;
        - offset scaling and the addition of ``init_pos``: 1 MAC per offset element, ``n_off``;
        - dyscope only: the sigmoid of the scope logits and the multiply by it, ``2 * n_off``.

        Building the coordinate grid and its normalisation (O(H*W), independent of ``c``) and the
        pixel (un)shuffles (data movement) are not counted.
        """
        b, _, h, w = x.shape
        n_off = b * 2 * self.groups * self.scale**2 * h * w
        sampling = 4 * b * y.shape[1] * y.shape[2] * y.shape[3]
        return int(sampling + n_off + (2 * n_off if self.dyscope else 0))

    def extra_repr(self) -> str:
        return f"c={self.c}, scale={self.scale}, style={self.style!r}, groups={self.groups}, dyscope={self.dyscope}"
