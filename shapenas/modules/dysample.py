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

from shapenas.modules._checks import check_bool, check_divisible, check_int, check_one_of

__all__ = ["DySample", "dysample_sample"]

_STYLES = ("lp", "pl")


# F.pixel_shuffle and F.pixel_unshuffle written as views: torch's own hand an empty batch back unchanged (forward
# for unshuffle, backward for shuffle), which breaks training steps and backward passes on an empty batch.
def pixel_shuffle(x: torch.Tensor, s: int) -> torch.Tensor:
    """``(B, C*s*s, H, W) -> (B, C, H*s, W*s)``: channel ``c*s*s + i*s + j`` goes to pixel ``(h*s + i, w*s + j)``."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // (s * s), s, s, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c // (s * s), h * s, w * s)


def pixel_unshuffle(x: torch.Tensor, s: int) -> torch.Tensor:
    """The inverse of ``pixel_shuffle``: ``(B, C, H*s, W*s) -> (B, C*s*s, H, W)``."""
    b, c, hs, ws = x.shape
    x = x.reshape(b, c, hs // s, s, ws // s, s).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, c * s * s, hs // s, ws // s)


def _check_args(c: int, scale: int, style: str, groups: int, dyscope: bool) -> None:
    """Raise ``ValueError`` naming the bad values for impossible configurations."""
    check_int("DySample", "c", c)
    check_one_of("DySample", "style", style, _STYLES)
    check_int("DySample", "scale", scale, 2)
    check_int("DySample", "groups", groups)
    check_bool("DySample", "dyscope", dyscope)
    check_divisible("DySample", {"c": c}, "groups", groups)
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

    Fused inference: there is no BatchNorm, so nothing to fold (no ``fuse`` method; the registry's hook is None).
    """

    def __init__(self, c: int, scale: int = 2, style: str = "lp", groups: int = 4, dyscope: bool = False) -> None:
        super().__init__()
        _check_args(c, scale, style, groups, dyscope)
        self.c, self.scale, self.style, self.groups, self.dyscope = c, scale, style, groups, dyscope
        c_in = c // scale**2 if style == "pl" else c
        c_out = 2 * groups if style == "pl" else 2 * groups * scale**2
        self.offset = nn.Conv2d(c_in, c_out, 1)
        if dyscope:
            self.scope = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.register_buffer("init_pos", self._init_pos())  # same state_dict keys as the original
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Offset conv weights N(0, 0.001) and zero bias, scope conv zero: bilinear upsampling to start with."""
        nn.init.normal_(self.offset.weight, std=0.001)
        nn.init.zeros_(self.offset.bias)
        if self.dyscope:
            nn.init.zeros_(self.scope.weight)

    @torch.no_grad()
    def init_from_upsample(self, upsample: nn.Upsample, x: torch.Tensor | None = None, generator=None) -> None:
        """Start computing what ``upsample`` (an ``nn.Upsample`` by this scale) computed, where the style allows.

        - ``nearest``, style ``lp``: exact. The offset conv's weights are zeroed and its bias set to
          ``-init_pos / 0.25``, so every output pixel samples the centre of its source pixel.
        - ``bilinear`` (``align_corners=False``), either style: exact, with zero offsets.
        - ``nearest``, style ``pl``: approximate (bilinear, zero offsets). ``pl`` predicts offsets from the
          pixel-shuffled input, which carries no sub-pixel position, so no bias can undo ``init_pos``.

        With ``dyscope`` the scope conv is zeroed too (scope 0.25, as the static factor). ``ValueError`` when
        ``upsample`` does not scale by ``scale`` or uses another mode. Needs no input sample ``x``, nothing random.
        """
        factor = upsample.scale_factor
        if upsample.size is not None or factor is None or float(factor) != float(self.scale):
            raise ValueError(f"DySample: cannot start from {upsample}: it does not scale by {self.scale}")
        bilinear = upsample.mode == "bilinear" and not upsample.align_corners
        if upsample.mode != "nearest" and not bilinear:
            raise ValueError(f"DySample: cannot start from {upsample}: mode {upsample.mode!r} is not nearest/bilinear")
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        if self.dyscope:
            nn.init.zeros_(self.scope.weight)
        if upsample.mode == "nearest" and self.style == "lp":
            self.offset.bias.copy_(-self.init_pos.flatten() / 0.25)

    @classmethod
    def from_upsample(cls, upsample: nn.Upsample, c: int, style: str = "lp", groups: int = 4, dyscope: bool = False):
        """A DySample for ``c`` channels that starts as ``upsample``; see ``init_from_upsample``."""
        module = cls(c, int(upsample.scale_factor), style, groups, dyscope)
        module.init_from_upsample(upsample)
        return module

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
            x = pixel_shuffle(x, self.scale)
        off = self.offset(x)
        off = off * self.scope(x).sigmoid() * 0.5 if self.dyscope else off * 0.25
        if self.style == "pl":
            off = pixel_unshuffle(off, self.scale)
        return off + self.init_pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c, H, W) -> (B, c, scale*H, scale*W)``."""
        return dysample_sample(x, self._offsets(x), self.scale, self.groups)

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


def dysample_sample(x: torch.Tensor, offset: torch.Tensor, scale: int, groups: int) -> torch.Tensor:
    """Bilinear samples of ``x`` at each output pixel's position: an input pixel centre plus its offset.

    x: ``(B, C, H, W)``; offset: ``(B, 2*groups*scale**2, H, W)`` in input pixels, channels laid out as
    ``(xy, group, i, j)``: output pixel ``(scale*y + i, scale*x + j)`` of channel group ``g`` (channels
    ``[g*C/groups, (g+1)*C/groups)``) samples ``x`` at column ``x + dx`` and row ``y + dy``, with ``(dx, dy)`` read at
    ``(y, x)``. Positions past the border take the border value. Returns ``(B, C, scale*H, scale*W)`` in x's dtype;
    coordinates and sampling run in float32 (float64 for float64 x) with autocast off.
    """
    b, c, h, w = x.shape
    s, g = scale, groups
    # skipped while tracing for export: the sizes are traced values then, and the module has checked its arguments
    if not torch.jit.is_tracing() and (c % g or tuple(offset.shape) != (b, 2 * g * s * s, h, w)):
        raise ValueError(
            f"dysample_sample: expected offset ({b}, {2 * g * s * s}, {h}, {w}) for x {tuple(x.shape)}, scale={s} "
            f"and groups={g} (which must divide {c}), got offset {tuple(offset.shape)}"
        )
    dt = torch.promote_types(x.dtype, torch.float32)
    with torch.autocast(device_type=x.device.type, enabled=False):
        off = offset.to(dt).view(b, 2, g * s * s, h, w)
        # Sizes come from the runtime shape, so ONNX traces them as Shape ops, not constants.
        xs = torch.arange(w, device=x.device, dtype=dt) + 0.5
        ys = torch.arange(h, device=x.device, dtype=dt) + 0.5
        gx = (off[:, 0] + xs.view(1, 1, 1, w)) * 2 / w - 1  # grid_sample, align_corners=False
        gy = (off[:, 1] + ys.view(1, 1, h, 1)) * 2 / h - 1
        grid = torch.stack((gx, gy), 1).view(b, 2 * g * s * s, h, w)
        grid = pixel_shuffle(grid, s).view(b, 2, g, s * h, s * w)
        grid = grid.permute(0, 2, 3, 4, 1).reshape(b * g, s * h, s * w, 2)
        xg = x.to(dt).reshape(b * g, c // g, h, w)  # no -1: B may be 0
        y = F.grid_sample(xg, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return y.view(b, c, s * h, s * w).to(x.dtype)
