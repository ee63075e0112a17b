"""Slow, obviously-correct AKConv reference: explicit four-neighbour gathers.

Used by tests/test_akconv.py to check the single-grid_sample fast path.

How the original AKConv code differs at the border (we do NOT copy this):
it takes ``q_lt = floor(p)`` and ``q_rb = q_lt + 1`` *before* clamping p, clamps both
to [0, size-1], then clamps p and uses weights ``1 + (q_lt - p)`` and ``1 - (q_rb - p)``.
Whenever p ends up on the last row/col, or left of/above pixel 0, both neighbours land
on the same border pixel with weight 1 each, so the weights of that axis sum to 2 (the
border value is doubled, x4 in a corner). Here p is clamped first and the neighbours are
floor(p) and min(floor(p)+1, size-1) with weights 1-t and t, which always sum to 1.
``original_axis_weights`` reproduces the original rule for one axis so a test can show it.
"""

from __future__ import annotations

import torch


def _gather(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """x: (B, C, H, W); rows, cols: (B, h, w) integer-valued -> x[b, :, rows, cols]: (B, C, h, w)."""
    B, C, H, W = x.shape
    flat = (rows.long() * W + cols.long()).view(B, 1, -1).expand(B, C, -1)
    return x.reshape(B, C, H * W).gather(2, flat).view(B, C, *rows.shape[1:])


def bilinear(x: torch.Tensor, pr: torch.Tensor, pc: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of x (B, C, H, W) at float positions pr, pc (B, h, w), border-clamped."""
    H, W = x.shape[2], x.shape[3]
    pr = pr.clamp(0, H - 1)
    pc = pc.clamp(0, W - 1)
    # floor and floor+1, not floor and ceil: ceil == floor at integer positions
    r0, c0 = pr.floor(), pc.floor()
    r1, c1 = (r0 + 1).clamp(max=H - 1), (c0 + 1).clamp(max=W - 1)
    tr, tc = pr - r0, pc - c0  # in [0, 1); 0 whenever r1 was clamped onto r0
    w00 = ((1 - tr) * (1 - tc)).unsqueeze(1)
    w01 = ((1 - tr) * tc).unsqueeze(1)
    w10 = (tr * (1 - tc)).unsqueeze(1)
    w11 = (tr * tc).unsqueeze(1)
    return w00 * _gather(x, r0, c0) + w01 * _gather(x, r0, c1) + w10 * _gather(x, r1, c0) + w11 * _gather(x, r1, c1)


def reference_sample(module, x: torch.Tensor) -> torch.Tensor:
    """Stacked samples (B, c1, h*N, w) computed point by point."""
    N, s = module.num_param, module.s
    offset = module.p_conv(x)
    B, C = x.shape[:2]
    h, w = offset.shape[2:]
    rows = (torch.arange(h, dtype=x.dtype) * s).view(1, h, 1)
    cols = (torch.arange(w, dtype=x.dtype) * s).view(1, 1, w)
    samples = []
    for n, (r, c) in enumerate(module.points):
        pr = rows + r + offset[:, n]  # channel n: row offset of point n
        pc = cols + c + offset[:, N + n]  # channel N+n: col offset of point n
        samples.append(bilinear(x, pr, pc))  # (B, C, h, w)
    # b c h w n -> b c (h n) w: row i*N + n holds point n of output row i
    return torch.stack(samples, dim=-1).permute(0, 1, 2, 4, 3).reshape(B, C, h * N, w)


def reference_forward(module, x: torch.Tensor) -> torch.Tensor:
    """Same result as module(x), through the slow sampler."""
    return module.act(module.bn(module.conv(reference_sample(module, x))))


def original_axis_weights(p: float, size: int) -> tuple[float, float]:
    """The original code's two weights along one axis (floor before clamp), for docs/tests."""
    q_lt = min(max(int(torch.tensor(p).floor()), 0), size - 1)
    q_rb = min(max(int(torch.tensor(p).floor()) + 1, 0), size - 1)
    pc = min(max(p, 0.0), size - 1)
    return 1 + (q_lt - pc), 1 - (q_rb - pc)
