"""Per-sample convolution: the primitive shared by the dynamic convolutions.

Used by ODConv ("Omni-Dimensional Dynamic Convolution", ICLR 2022, https://arxiv.org/abs/2209.07947)
and DynamicConv (ParameterNet, CVPR 2024, https://arxiv.org/abs/2306.14525): both build one
convolution kernel per sample and then need to convolve sample b with kernel b.

The batch is folded into the channel axis and the kernels into the groups, so the whole batch
runs as ONE grouped ``F.conv2d`` instead of a Python loop over samples. The price: the number of
groups (``B * groups``) is a Python int baked into the graph when tracing, so an ONNX export of a
module that uses this is **static-batch** (export with the batch size you will run).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["conv_out_size", "per_sample_conv"]


def conv_out_size(size: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output length of a convolution along one axis: ``floor((size + 2p - d(k-1) - 1) / s) + 1``."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _check_shapes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> None:
    if x.dim() != 4 or weight.dim() != 5:
        raise ValueError(
            f"per_sample_conv: expected x (B, c1, H, W) and weight (B, c2, c1/g, k, k), "
            f"got x {tuple(x.shape)} and weight {tuple(weight.shape)}"
        )
    b, c1 = x.shape[:2]
    bw, c2, cin_g = weight.shape[:3]
    if bw != b or cin_g * groups != c1:
        raise ValueError(
            f"per_sample_conv: weight {tuple(weight.shape)} does not fit x {tuple(x.shape)} with groups={groups}"
        )
    if bias is not None and tuple(bias.shape) != (b, c2):
        raise ValueError(f"per_sample_conv: bias must be ({b}, {c2}), got {tuple(bias.shape)}")


def per_sample_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """Convolve each sample with its own kernel in one grouped convolution.

    Args:
        x: ``(B, c1, H, W)``.
        weight: ``(B, c2, c1 // groups, k, k)``, one kernel per sample.
        bias: ``(B, c2)`` or None.
        stride, padding, groups: as in ``F.conv2d`` (``groups`` is per sample).

    Returns:
        ``(B, c2, h, w)`` with ``h = conv_out_size(H, k, stride, padding)`` (same for w).
    """
    _check_shapes(x, weight, bias, groups)
    b, c1, h, w = x.shape
    c2, cin_g, kh, kw = weight.shape[1:]
    ho, wo = conv_out_size(h, kh, stride, padding), conv_out_size(w, kw, stride, padding)
    if b == 0:  # F.conv2d rejects groups=0. The empty output stays tied to x and the kernels (zero gradients), as
        # a batched convolution's would, so a backward pass through an empty batch reaches them.
        tied = x.sum() + weight.sum() + (0 if bias is None else bias.sum())
        return x.new_zeros(0, c2, ho, wo) + 0 * tied
    # (B, c1, H, W) -> (1, B*c1, H, W): sample b owns channel block b, which group b*g..b*g+g-1 reads.
    out = F.conv2d(
        x.reshape(1, b * c1, h, w),
        weight.reshape(b * c2, cin_g, kh, kw),
        None if bias is None else bias.reshape(b * c2),
        stride=stride,
        padding=padding,
        groups=b * groups,
    )
    return out.reshape(b, c2, ho, wo)
