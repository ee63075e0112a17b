"""AKConv: a convolution with an arbitrary sampled shape and number of parameters.

Paper: "AKConv: Convolutional Kernel with Arbitrary Sampled Shapes and Arbitrary
Number of Parameters" (later renamed LDConv), https://arxiv.org/abs/2311.11587

The original code gathers four shifted copies of the input per layer and computes
coordinates in the autocast dtype. Here sampling is a single ``grid_sample`` call with
coordinates in float32 (float64 for float64 inputs), even under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shapenas.modules._checks import check_int
from shapenas.modules._fold import fold_into_conv
from shapenas.modules._init_from import check_replaces_conv, copy_batchnorm
from shapenas.modules._pickled import renamed_attributes
from shapenas.modules.akconv_shapes import Shape, resolve_shape, tap_shares, window_shift

__all__ = ["AKConv", "akconv_sample"]


def _coord_dtype(dtype: torch.dtype) -> torch.dtype:
    # float64 stays float64 (gradcheck); everything narrower is promoted to float32
    return torch.float64 if dtype == torch.float64 else torch.float32


def _grid(offset: torch.Tensor, p_n: torch.Tensor, stride: int, size: tuple[int, int]):
    """Build the normalised sampling grid.

    offset: (B, 2N, h, w), rows first: channels [0, N) are row offsets, [N, 2N) col offsets.
    p_n: (2N,) initial points, rows then cols. Returns (B, h*N, w, 2) with (x, y) last,
    laid out so grid_sample's output is already ``b c (h n) w``.
    """
    B, n2, h, w = offset.shape
    N = n2 // 2
    H, W = size
    off = offset.view(B, 2, N, h, w)
    p_n = p_n.to(offset.dtype).view(2, N, 1, 1)
    rows = torch.arange(h, device=offset.device, dtype=offset.dtype).view(1, h, 1) * stride
    cols = torch.arange(w, device=offset.device, dtype=offset.dtype).view(1, 1, w) * stride
    # p = top-left anchor + initial point + learned offset, clamped to the map: the
    # explicit clamp (not only padding_mode) keeps us equal to the reference and the paper
    pr = (off[:, 0] + p_n[0] + rows).clamp(0, H - 1)
    pc = (off[:, 1] + p_n[1] + cols).clamp(0, W - 1)
    # align_corners=True maps -1 -> pixel 0 and +1 -> pixel size-1; a size-1 axis has
    # pixel 0 only, where max(.., 1) gives -1 (any value samples pixel 0 there)
    gy = pr * (2.0 / max(H - 1, 1)) - 1.0
    gx = pc * (2.0 / max(W - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)  # (B, N, h, w, 2)
    return grid.permute(0, 2, 1, 3, 4).reshape(B, h * N, w, 2)


def akconv_sample(x: torch.Tensor, offset: torch.Tensor, p_n: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Bilinear samples of x at anchor + p_n + offset, stacked along the height.

    x: (B, C, H, W); offset: (B, 2N, h, w) (rows then cols); p_n: (2N,) (rows then cols).
    Returns (B, C, h*N, w) in x's dtype; row ``i*N + n`` holds point n of output row i.
    Coordinates and sampling run in float32 (float64 for float64 x) with autocast off.
    """
    cdt = _coord_dtype(x.dtype)
    with torch.autocast(device_type=x.device.type, enabled=False):
        grid = _grid(offset.to(cdt), p_n, stride, (x.shape[2], x.shape[3]))
        out = F.grid_sample(x.to(cdt), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(x.dtype)


class AKConv(nn.Module):
    """AKConv, a drop-in for Ultralytics ``Conv``; YAML row ``AKConv: [c2, num_param, s, shape?]``.

    x: (B, c1, H, W) -> (B, c2, floor((H-1)/s)+1, floor((W-1)/s)+1)

    - ``p_conv``: 3x3 conv, stride s, padding 1, c1 -> 2N, bias; weights and bias start at
      zero (``reset_parameters``), so at initialisation the layer samples exactly its initial points.
      Output channels [0, N) are row offsets and [N, 2N) column offsets of points 0..N-1.
    - positions p = top-left anchor (i*s, j*s) + initial point + offset, clamped to
      [0, H-1] x [0, W-1], sampled bilinearly and stacked: (B, c1, h*N, w).
    - ``conv``: Conv2d(c1, c2, (N, 1), stride (N, 1), no bias), then ``bn`` and ``act`` (SiLU).

    Border: because positions are clamped before interpolating, our bilinear weights always
    sum to 1, so out-of-image samples replicate the border pixel. The original AKConv code
    floors *before* clamping and clamps both neighbours onto the same border pixel, giving
    weights that sum to 2 per clamped axis (the border value doubled, x4 in a corner).

    ONNX: export at a fixed input size (opset >= 16 for GridSample); the tracer bakes
    H and W into the graph as constants.

    ``points`` holds the initial (row, col) points as given (not translated); the buffer
    ``p_n`` (2N,) holds them as float rows-then-cols. ``p_n`` is not saved in the state
    dict: the points come from the constructor (the YAML row), so a checkpoint cannot
    silently disagree with ``points``.
    """

    def __init__(self, c1: int, c2: int, num_param: int = 5, s: int = 1, shape: str | list | None = None):
        super().__init__()
        self.c1, self.c2 = check_int("AKConv", "c1", c1), check_int("AKConv", "c2", c2)
        self.num_param = check_int("AKConv", "num_param", num_param, 2)
        self.s = check_int("AKConv", "s", s)
        self.points: Shape = resolve_shape(shape, self.num_param)
        self.shape_name = "regular" if shape is None else shape if isinstance(shape, str) else "custom"
        n = self.num_param
        self.p_conv = nn.Conv2d(c1, 2 * n, 3, stride=s, padding=1, bias=True)
        self.conv = nn.Conv2d(c1, c2, (n, 1), stride=(n, 1), bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()
        rows = [float(r) for r, _ in self.points]
        cols = [float(c) for _, c in self.points]
        self.register_buffer("p_n", torch.tensor(rows + cols, dtype=torch.float32), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Offsets start at zero (the initial points are sampled exactly); the (N, 1) conv and BN as PyTorch's."""
        nn.init.zeros_(self.p_conv.weight)
        nn.init.zeros_(self.p_conv.bias)
        self.conv.reset_parameters()
        self.bn.reset_parameters()

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(renamed_attributes(state, {"stride": "s"}))

    @torch.no_grad()
    def init_from_conv(
        self, conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor | None = None, generator=None
    ) -> None:
        """Start as close as the shape allows to ``act(bn(conv(x)))`` of a padded 3x3 ``conv`` (same c1, c2, s).

        The points are moved onto the 3x3 window by one integer shift (``window_shift``: the most tap energy landed),
        set as the offset conv's bias (its weights stay zero), so the shape itself is kept. A point that lands on a
        tap takes that tap's weights; a tap no point lands on goes to the nearest landed points, split evenly
        (``tap_shares``). A regular N = 9 shape covers the window and equals the conv everywhere but a 1-pixel border
        (AKConv clamps to the map, the conv zero-pads); other shapes are approximate: ``shapenas.inherit_weights``
        measures and records the error. BatchNorm is copied. ``ValueError`` if the conv does not fit.
        The rule needs no input sample ``x`` and no ``generator``; they are taken so every module starts alike.
        """
        check_replaces_conv("AKConv", self, conv, 3, self.s, 1)
        tap_energy = conv.weight.double().pow(2).sum((0, 1)).tolist()
        shift = window_shift(self.points, tap_energy)
        weight = torch.zeros_like(self.conv.weight)  # (c2, c1, N, 1)
        for n, shares in enumerate(tap_shares(self.points, shift)):
            for (r, c), share in shares:
                weight[:, :, n, 0] += share * conv.weight[:, :, r + 1, c + 1]
        self.conv.weight.copy_(weight)
        nn.init.zeros_(self.p_conv.weight)
        self.p_conv.bias[: self.num_param] = shift[0]
        self.p_conv.bias[self.num_param :] = shift[1]
        copy_batchnorm(self.bn, bn)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, bn: nn.BatchNorm2d, num_param: int = 9, shape=None) -> AKConv:
        """An AKConv that starts from a padded 3x3 ``conv``; see ``init_from_conv``."""
        module = cls(conv.in_channels, conv.out_channels, num_param, conv.stride[0], shape)
        module.init_from_conv(conv, bn)
        return module

    def sample(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, c1, H, W) -> stacked samples (B, c1, h*N, w) in x's dtype."""
        # cast the offsets, not the conv: p_conv runs in the autocast dtype like any conv
        offset = self.p_conv(x)
        return akconv_sample(x, offset, self.p_n, self.s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, c1, H, W) -> (B, c2, floor((H-1)/s)+1, floor((W-1)/s)+1)."""
        return self.act(self.bn(self.conv(self.sample(x))))

    def extra_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """MACs outside child modules: bilinear sampling only.

        4 MACs per sampled value per channel: ``4 * B * c1 * h * w * N`` with (h, w) = y's
        spatial size. The coordinate arithmetic (anchor + point + offset, clamp, normalise;
        O(B*N*h*w), independent of c1) is not counted. p_conv/conv/bn are child modules.
        """
        b, _, h, w = y.shape
        return 4 * int(b) * self.c1 * int(h) * int(w) * self.num_param

    def extra_repr(self) -> str:
        text = f"num_param={self.num_param}, s={self.s}, shape={self.shape_name}"
        return text + (f" {self.points}" if self.shape_name == "custom" else "")

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold ``bn`` into the (N, 1) conv, which gains a bias, for inference (eval-mode statistics), as Ultralytics'
        ``Conv`` does: ``bn`` is removed and ``forward`` becomes ``forward_fuse``. Does nothing once fused."""
        if not hasattr(self, "bn"):
            return
        self.conv = fold_into_conv(self.conv, self.bn)
        del self.bn
        self.forward = self.forward_fuse

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` after ``fuse()``: the (N, 1) conv carries the BatchNorm."""
        return self.act(self.conv(self.sample(x)))
