"""Slow, obviously-correct DySample: every output value computed on its own, with loops and explicit index math.

Used by tests/test_dysample.py to check `dysample_sample` (one grid_sample call on a pixel-shuffled grid) and the
module's offset path (1x1 convs, pixel (un)shuffle for "pl", scope, initial positions), with offsets far from zero.

Convention (DySample's, with grid_sample's align_corners=False): input pixel (y, x) has its centre at (y, x) in index
coordinates. Output pixel (s*y + i, s*x + j) of channel group g starts at the bilinear-upsampling position
(y + (i - (s-1)/2) / s, x + (j - (s-1)/2) / s) and moves by its offset (dy, dx), in input pixels. The position is
clamped to [0, H-1] x [0, W-1] (border padding), then sampled bilinearly from its four neighbours.
"""

from __future__ import annotations

import math

import torch


def _bilinear(image: list, row: float, col: float) -> float:
    """image[row][col] between pixels: the four neighbours weighted by their distance (border-clamped first)."""
    h, w = len(image), len(image[0])
    row, col = min(max(row, 0.0), h - 1.0), min(max(col, 0.0), w - 1.0)
    r0, c0 = math.floor(row), math.floor(col)
    r1, c1 = min(r0 + 1, h - 1), min(c0 + 1, w - 1)
    tr, tc = row - r0, col - c0
    top = (1 - tc) * image[r0][c0] + tc * image[r0][c1]
    bottom = (1 - tc) * image[r1][c0] + tc * image[r1][c1]
    return (1 - tr) * top + tr * bottom


def reference_sample(x: torch.Tensor, offset: torch.Tensor, scale: int, groups: int) -> torch.Tensor:
    """`dysample_sample` one value at a time. offset: (B, 2*groups*scale**2, H, W), channels (xy, group, i, j)."""
    b_size, c_size, h, w = x.shape
    s, g = scale, groups
    image, off = x.tolist(), offset.tolist()
    out = torch.zeros(b_size, c_size, h * s, w * s, dtype=torch.float64)
    for b in range(b_size):
        for out_row in range(h * s):
            y, i = divmod(out_row, s)
            for out_col in range(w * s):
                x_, j = divmod(out_col, s)
                for group in range(g):
                    k = group * s * s + i * s + j
                    dx, dy = off[b][k][y][x_], off[b][g * s * s + k][y][x_]
                    for c in range(group * c_size // g, (group + 1) * c_size // g):
                        out[b, c, out_row, out_col] = _bilinear(image[b][c], y + dy, x_ + dx)
    return out


def _conv1x1(weight: torch.Tensor, bias: torch.Tensor | None, features: list[float]) -> list[float]:
    """A 1x1 convolution at one pixel: out[k] = sum_c weight[k, c] * features[c] + bias[k]."""
    rows = weight.reshape(weight.shape[0], -1).tolist()
    biases = bias.tolist() if bias is not None else [0.0] * len(rows)
    return [sum(wk * f for wk, f in zip(row, features, strict=True)) + bk for row, bk in zip(rows, biases, strict=True)]


def _pixel_offset(m, x: torch.Tensor, b: int, y: int, x_: int, i: int, j: int, group: int) -> tuple[float, float]:
    """(dx, dy) of output pixel (s*y + i, s*x_ + j) in channel group `group`, from the module's parameters."""
    s, g = m.scale, m.groups
    if m.style == "lp":  # predicted at the low-res pixel: channel (xy, group, i, j)
        features = x[b, :, y, x_].tolist()
        index = [xy * g * s * s + group * s * s + i * s + j for xy in (0, 1)]
    else:  # "pl": at the high-res pixel, whose features are channels c*s*s + i*s + j of the low-res one
        features = [x[b, c * s * s + i * s + j, y, x_].item() for c in range(x.shape[1] // (s * s))]
        index = [xy * g + group for xy in (0, 1)]
    raw = _conv1x1(m.offset.weight, m.offset.bias, features)
    if m.dyscope:
        scope = _conv1x1(m.scope.weight, None, features)
        factors = [0.5 / (1 + math.exp(-scope[k])) for k in index]
    else:
        factors = [0.25, 0.25]
    start = ((j - (s - 1) / 2) / s, (i - (s - 1) / 2) / s)  # bilinear upsampling's position, (x, y)
    return tuple(raw[k] * f + p for k, f, p in zip(index, factors, start, strict=True))


def reference_forward(m, x: torch.Tensor) -> torch.Tensor:
    """DySample `m` applied to x (B, C, H, W), one output value at a time."""
    b_size, c_size, h, w = x.shape
    s, g = m.scale, m.groups
    image = x.tolist()
    out = torch.zeros(b_size, c_size, h * s, w * s, dtype=torch.float64)
    for b in range(b_size):
        for y in range(h):
            for x_ in range(w):
                for i in range(s):
                    for j in range(s):
                        for group in range(g):
                            dx, dy = _pixel_offset(m, x, b, y, x_, i, j, group)
                            for c in range(group * c_size // g, (group + 1) * c_size // g):
                                out[b, c, s * y + i, s * x_ + j] = _bilinear(image[b][c], y + dy, x_ + dx)
    return out
