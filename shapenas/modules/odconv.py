"""ODConv: "Omni-Dimensional Dynamic Convolution" (Li, Zhou, Yao; ICLR 2022).

Paper: https://arxiv.org/abs/2209.07947

K candidate kernels are mixed per sample with four attentions computed from one squeeze of the
input (input channel, output filter, spatial k*k, kernel). Drop-in for Ultralytics ``Conv``
(BN + SiLU after). YAML row: ``ODConv: [c2, k, s, kernel_num, reduction]``.

Differences from the authors' code, on purpose:
- the attention branch normalises with GroupNorm(1, A), not BatchNorm, so training at batch
  size 1 works (BatchNorm over a (1, A, 1, 1) tensor has one value per channel and raises);
- the temperature is a plain float attribute, not a buffer (see ``ODConv.temperature``);
- ONNX export is static-batch because of the batch-folded grouped convolution.

``temperature_at`` is the annealing schedule (30 -> 1 over the first ``share`` of training); the Ultralytics
callback that applies it during training is ``shapenas.ultralytics.callbacks.TemperatureSchedule``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from shapenas.modules._checks import check_divisible, check_fraction, check_int, check_odd_int
from shapenas.modules._experts import ExpertConv
from shapenas.modules.dynamic_kernel import per_sample_conv

__all__ = ["ODConv", "set_temperature", "temperature_at"]


def _check_args(c1: int, c2: int, k: int, s: int, kernel_num: int, reduction: float, groups: int) -> None:
    """Raise ValueError naming the first impossible argument."""
    for name, value in (("c1", c1), ("c2", c2), ("s", s), ("kernel_num", kernel_num), ("groups", groups)):
        check_int("ODConv", name, value)
    check_odd_int("ODConv", "k", k)
    check_fraction("ODConv", "reduction", reduction, one_allowed=True)
    check_divisible("ODConv", {"c1": c1, "c2": c2}, "groups", groups)


class ODConv(ExpertConv):
    """Omni-dimensional dynamic convolution + BN + SiLU.

    ``x: (B, c1, H, W) -> (B, c2, floor((H-1)/s)+1, floor((W-1)/s)+1)`` (padding ``k // 2``).

    Parameters: ``weight (K, c2, c1/groups, k, k)``; attention ``fc`` (c1 -> A, A = max(int(c1*reduction), 16)),
    ``norm`` GroupNorm(1, A), heads ``channel_fc`` (A -> c1), ``filter_fc`` (A -> c2, None when
    depthwise), ``spatial_fc`` (A -> k*k, None when k == 1), ``kernel_fc`` (A -> K, None when K == 1).
    """

    def __init__(
        self, c1: int, c2: int, k: int = 3, s: int = 1, kernel_num: int = 4, reduction: float = 0.0625, groups: int = 1
    ):
        super().__init__()
        _check_args(c1, c2, k, s, kernel_num, reduction, groups)
        self.c1, self.c2, self.k, self.s, self.groups, self.kernel_num = c1, c2, k, s, groups, kernel_num
        a = max(int(c1 * reduction), 16)
        # Plain float, not a buffer: Ultralytics' ModelEMA averages every floating state_dict entry,
        # which would blend the EMA's temperature with the model's instead of following the schedule.
        self.temperature = 1.0
        self.weight = self._expert_weight(kernel_num)  # 4-D, viewed 5-D by kernels() (see ExpertConv)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(c1, a, 1, bias=False)
        # GroupNorm(1, A) normalises each sample's A features on its own; BatchNorm here (as in the
        # original) fails at batch size 1 in training, which Ultralytics' AutoBatch and tiny proxies hit.
        self.norm = nn.GroupNorm(1, a)
        self.relu = nn.ReLU()
        self.channel_fc = nn.Conv2d(a, c1, 1)
        depthwise = groups == c1 == c2
        self.filter_fc = None if depthwise else nn.Conv2d(a, c2, 1)
        self.spatial_fc = None if k == 1 else nn.Conv2d(a, k * k, 1)
        self.kernel_fc = None if kernel_num == 1 else nn.Conv2d(a, kernel_num, 1)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming (fan_out, relu) for every kernel and attention conv, zero biases, as the authors do."""
        for i in range(self.kernel_num):
            nn.init.kaiming_normal_(self.kernels()[i], mode="fan_out", nonlinearity="relu")
        for m in (self.fc, self.channel_fc, self.filter_fc, self.spatial_fc, self.kernel_fc):
            if m is not None:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _heads(self) -> list[nn.Conv2d]:
        return [m for m in (self.channel_fc, self.filter_fc, self.spatial_fc, self.kernel_fc) if m is not None]

    def _start_scale(self) -> float:
        """2 per sigmoid attention present (channel always; filter unless depthwise; spatial unless k = 1): with the
        heads zeroed each sigmoid attention is ``sigmoid(0) = 0.5`` and the kernel attention ``1/K`` at any
        temperature, so the attended mean of the kernels is ``W``."""
        return 2.0 ** (1 + (self.filter_fc is not None) + (self.spatial_fc is not None))

    @torch.no_grad()
    def _zero_gates(self) -> None:
        for head in self._heads():
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    @classmethod
    def from_conv(
        cls, conv: nn.Conv2d, bn: nn.BatchNorm2d, kernel_num: int = 4, reduction: float = 0.0625, **init
    ) -> ODConv:
        """An ODConv that starts as ``act(bn(conv(x)))``; see ``init_from_conv``."""
        k, s = conv.kernel_size[0], conv.stride[0]
        module = cls(conv.in_channels, conv.out_channels, k, s, kernel_num, reduction, conv.groups)
        module.init_from_conv(conv, bn, **init)
        return module

    def attention(self, x: torch.Tensor):
        """Four attentions from one squeeze of ``x (B, c1, H, W)``.

        Returns channel ``(B, c1, 1, 1)``, filter ``(B, c2, 1, 1)`` or None, spatial ``(B, k*k)`` or None,
        kernel ``(B, K)`` or None.
        """
        t = self.temperature
        z = self.relu(self.norm(self.fc(self.pool(x))))  # (B, A, 1, 1)
        channel = torch.sigmoid(self.channel_fc(z) / t)
        filt = None if self.filter_fc is None else torch.sigmoid(self.filter_fc(z) / t)
        spatial = None if self.spatial_fc is None else torch.sigmoid(self.spatial_fc(z).flatten(1) / t)
        kernel = None if self.kernel_fc is None else torch.softmax(self.kernel_fc(z).flatten(1) / t, dim=1)
        return channel, filt, spatial, kernel

    def aggregate(self, spatial: torch.Tensor | None, kernel: torch.Tensor | None, b: int) -> torch.Tensor:
        """Per-sample kernel ``sum_k kernel[:, k] * spatial * W_k``: (B, c2, c1/groups, k, k).

        The spatial attention does not depend on k, so it scales the mixed kernel once
        (B*c2*c1/groups*k*k MACs) instead of each of the K kernels.
        """
        kk = self.k * self.k
        w = self.weight.reshape(self.kernel_num, -1)  # (K, c2*c1/groups*k*k)
        w = w[0].expand(b, -1) if kernel is None else kernel @ w  # (B, c2*c1/groups*k*k)
        w = w.reshape(b, self.c2 * (self.c1 // self.groups), kk)  # sizes spelled out: -1 is ambiguous for b == 0
        if spatial is not None:
            w = w * spatial.reshape(b, 1, kk)
        return w.reshape(b, self.c2, self.c1 // self.groups, self.k, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c1, H, W) -> (B, c2, h, w)``."""
        channel, filt, spatial, kernel = self.attention(x)
        weight = self.aggregate(spatial, kernel, x.shape[0])
        y = per_sample_conv(x * channel, weight, None, self.s, self.k // 2, self.groups)
        if filt is not None:
            y = y * filt
        return self.act(self.bn(y))

    def extra_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """MACs outside child modules for ``forward(x) -> y``, with n = c2*(c1/groups)*k*k, (h, w) = y's size:

        - channel scaling of the input: ``B*c1*H*W``
        - kernel aggregation: ``B*K*n`` (only when K > 1; with K = 1 the single kernel is used as is)
        - spatial scaling of the mixed kernel: ``B*n`` (only when k > 1)
        - main per-sample convolution: ``B*c2*h*w*(c1/groups)*k*k``
        - filter scaling of the output: ``B*c2*h*w`` (only when not depthwise)

        The pool, attention convs, GroupNorm, BN and activations are child modules, counted elsewhere.
        """
        b, c1, hi, wi = x.shape
        h, w = y.shape[-2:]
        n = self.c2 * (self.c1 // self.groups) * self.k * self.k
        macs = b * c1 * hi * wi + b * self.c2 * h * w * (self.c1 // self.groups) * self.k * self.k
        macs += b * self.kernel_num * n if self.kernel_fc is not None else 0
        macs += b * n if self.spatial_fc is not None else 0
        macs += b * self.c2 * h * w if self.filter_fc is not None else 0
        return int(macs)

    def extra_repr(self) -> str:
        return (
            f"c1={self.c1}, c2={self.c2}, k={self.k}, s={self.s}, kernel_num={self.kernel_num}, "
            f"groups={self.groups}, temperature={self.temperature}"
        )

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold ``bn`` for inference (eval-mode statistics): ``bn`` is removed and ``forward`` becomes
        ``forward_fuse``. Does nothing once fused.

        Eval-mode BN is ``scale * z + shift`` per output channel, on ``z = filt * conv(x * channel, W)`` with the
        mixed kernel ``W = sum_k a_k * spatial * W_k``. ``scale`` and the filter attention both multiply output
        channels, so they commute, and the convolution is linear in its kernel, whose ``c2`` axis the kernel and
        spatial attentions leave alone: ``scale * z = filt * conv(x * channel, sum_k a_k * spatial * (scale * W_k))``.
        So every candidate kernel is scaled along ``c2``. ``shift`` is added after the filter attention (it must not
        be multiplied by it), as ``bias`` (c2,); without a filter attention (depthwise) it is the convolution's bias.
        Exact for any input and temperature. The attention branch's GroupNorm normalises each sample by its own
        statistics, so it stays.
        """
        self._fold_bn()

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` after ``fuse()``: the candidate kernels carry BN's scale, ``bias`` its shift."""
        channel, filt, spatial, kernel = self.attention(x)
        weight = self.aggregate(spatial, kernel, x.shape[0])
        if filt is None:
            bias = self.bias.expand(x.shape[0], -1)
            return self.act(per_sample_conv(x * channel, weight, bias, self.s, self.k // 2, self.groups))
        y = per_sample_conv(x * channel, weight, None, self.s, self.k // 2, self.groups)
        return self.act(torch.addcmul(self.bias.view(1, -1, 1, 1), y, filt))


def temperature_at(progress: float, share: float = 0.1, start: float = 30.0, end: float = 1.0) -> float:
    """Temperature after ``progress`` (fraction of all training batches, 0..1) of training.

    Linear from ``start`` at progress 0 to ``end`` at progress ``share``, then ``end``.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"temperature_at: share must be in [0, 1], got {share!r}")
    if share == 0 or progress >= share:
        return float(end)
    return float(start + (end - start) * max(progress, 0.0) / share)


def set_temperature(model: nn.Module, value: float) -> int:
    """Set the temperature of every ODConv in ``model``; returns how many there are."""
    odconvs = [m for m in model.modules() if isinstance(m, ODConv)]
    for m in odconvs:
        m.temperature = float(value)
    return len(odconvs)
