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

``TemperatureSchedule`` anneals the temperature from 30 to 1 over the first ``share`` of the
training batches, as an Ultralytics callback object.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .dynamic_kernel import per_sample_conv

__all__ = ["ODConv", "TemperatureSchedule", "add_temperature_schedule", "temperature_at"]


def _check_args(c1: int, c2: int, k: int, s: int, kernel_num: int, reduction: float, g: int) -> None:
    """Raise ValueError naming the first impossible argument."""
    for name, v in (("c1", c1), ("c2", c2), ("s", s), ("kernel_num", kernel_num), ("g", g)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"ODConv: {name} must be an int >= 1, got {v!r}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1 or k % 2 == 0:
        raise ValueError(f"ODConv: k must be an odd int >= 1, got {k!r}")
    if not isinstance(reduction, (int, float)) or isinstance(reduction, bool) or not 0 < reduction <= 1:
        raise ValueError(f"ODConv: reduction must be in (0, 1], got {reduction!r}")
    if c1 % g or c2 % g:
        raise ValueError(f"ODConv: c1 and c2 must be divisible by g, got c1={c1}, c2={c2}, g={g}")


class ODConv(nn.Module):
    """Omni-dimensional dynamic convolution + BN + SiLU.

    ``x: (B, c1, H, W) -> (B, c2, floor((H-1)/s)+1, floor((W-1)/s)+1)`` (padding ``k // 2``).

    Parameters: ``weight (K, c2, c1/g, k, k)``; attention ``fc`` (c1 -> A, A = max(int(c1*reduction), 16)),
    ``norm`` GroupNorm(1, A), heads ``channel_fc`` (A -> c1), ``filter_fc`` (A -> c2, None when
    depthwise), ``spatial_fc`` (A -> k*k, None when k == 1), ``kernel_fc`` (A -> K, None when K == 1).
    """

    def __init__(
        self, c1: int, c2: int, k: int = 3, s: int = 1, kernel_num: int = 4, reduction: float = 0.0625, g: int = 1
    ):
        super().__init__()
        _check_args(c1, c2, k, s, kernel_num, reduction, g)
        self.c1, self.c2, self.k, self.s, self.g, self.kernel_num = c1, c2, k, s, g, kernel_num
        a = max(int(c1 * reduction), 16)
        # Plain float, not a buffer: Ultralytics' ModelEMA averages every floating state_dict entry,
        # which would blend the EMA's temperature with the model's instead of following the schedule.
        self.temperature = 1.0
        # Stored 4-D as (kernel_num*c2, c1/g, k, k): Ultralytics moves checkpoints with .to(memory_format=...), which
        # rejects 5-D tensors. Viewed as (kernel_num, c2, c1/g, k, k) wherever the kernels are used.
        self.weight = nn.Parameter(torch.empty(kernel_num * c2, c1 // g, k, k))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(c1, a, 1, bias=False)
        # GroupNorm(1, A) normalises each sample's A features on its own; BatchNorm here (as in the
        # original) fails at batch size 1 in training, which Ultralytics' AutoBatch and tiny proxies hit.
        self.norm = nn.GroupNorm(1, a)
        self.relu = nn.ReLU()
        self.channel_fc = nn.Conv2d(a, c1, 1)
        depthwise = g == c1 == c2
        self.filter_fc = None if depthwise else nn.Conv2d(a, c2, 1)
        self.spatial_fc = None if k == 1 else nn.Conv2d(a, k * k, 1)
        self.kernel_fc = None if kernel_num == 1 else nn.Conv2d(a, kernel_num, 1)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()
        self.reset_parameters()

    def kernels(self) -> torch.Tensor:
        """The candidate kernels as a view of shape (kernel_num, c2, c1/g, k, k)."""
        return self.weight.view(self.kernel_num, self.c2, self.c1 // self.g, self.k, self.k)

    def reset_parameters(self) -> None:
        """Kaiming (fan_out, relu) for every kernel and attention conv, zero biases, as the authors do."""
        for i in range(self.kernel_num):
            nn.init.kaiming_normal_(self.kernels()[i], mode="fan_out", nonlinearity="relu")
        for m in (self.fc, self.channel_fc, self.filter_fc, self.spatial_fc, self.kernel_fc):
            if m is not None:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

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
        """Per-sample kernel ``sum_k kernel[:, k] * spatial * W_k``: (B, c2, c1/g, k, k).

        The spatial attention does not depend on k, so it scales the mixed kernel once
        (B*c2*c1/g*k*k MACs) instead of each of the K kernels.
        """
        kk = self.k * self.k
        w = self.weight.reshape(self.kernel_num, -1)  # (K, c2*c1/g*k*k)
        w = w[0].expand(b, -1) if kernel is None else kernel @ w  # (B, c2*c1/g*k*k)
        w = w.reshape(b, self.c2 * (self.c1 // self.g), kk)  # sizes spelled out: -1 is ambiguous for b == 0
        if spatial is not None:
            w = w * spatial.reshape(b, 1, kk)
        return w.reshape(b, self.c2, self.c1 // self.g, self.k, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c1, H, W) -> (B, c2, h, w)``."""
        channel, filt, spatial, kernel = self.attention(x)
        weight = self.aggregate(spatial, kernel, x.shape[0])
        y = per_sample_conv(x * channel, weight, None, self.s, self.k // 2, self.g)
        if filt is not None:
            y = y * filt
        return self.act(self.bn(y))

    def extra_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """MACs outside child modules for ``forward(x) -> y``, with n = c2*(c1/g)*k*k, (h, w) = y's size:

        - channel scaling of the input: ``B*c1*H*W``
        - kernel aggregation: ``B*K*n`` (only when K > 1; with K = 1 the single kernel is used as is)
        - spatial scaling of the mixed kernel: ``B*n`` (only when k > 1)
        - main per-sample convolution: ``B*c2*h*w*(c1/g)*k*k``
        - filter scaling of the output: ``B*c2*h*w`` (only when not depthwise)

        The pool, attention convs, GroupNorm, BN and activations are child modules, counted elsewhere.
        """
        b, c1, hi, wi = x.shape
        h, w = y.shape[-2:]
        n = self.c2 * (self.c1 // self.g) * self.k * self.k
        macs = b * c1 * hi * wi + b * self.c2 * h * w * (self.c1 // self.g) * self.k * self.k
        macs += b * self.kernel_num * n if self.kernel_fc is not None else 0
        macs += b * n if self.spatial_fc is not None else 0
        macs += b * self.c2 * h * w if self.filter_fc is not None else 0
        return int(macs)

    def extra_repr(self) -> str:
        return (
            f"c1={self.c1}, c2={self.c2}, k={self.k}, s={self.s}, kernel_num={self.kernel_num}, "
            f"g={self.g}, temperature={self.temperature}"
        )


def temperature_at(progress: float, share: float = 0.1, start: float = 30.0, end: float = 1.0) -> float:
    """Temperature after ``progress`` (fraction of all training batches, 0..1) of training.

    Linear from ``start`` at progress 0 to ``end`` at progress ``share``, then ``end``.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"temperature_at: share must be in [0, 1], got {share!r}")
    if share == 0 or progress >= share:
        return float(end)
    return float(start + (end - start) * max(progress, 0.0) / share)


def _odconvs(model):
    """Every ODConv in ``model`` (DDP/DP wrappers unwrapped via ``.module``)."""
    if model is None:
        return []
    model = getattr(model, "module", model)
    return [m for m in model.modules() if isinstance(m, ODConv)]


class TemperatureSchedule:
    """Ultralytics callback object annealing every ODConv's temperature (model and EMA).

    Counts training batches itself; ``on_train_epoch_start`` re-syncs the count to
    ``epoch * len(train_loader)``, so resume (``trainer.start_epoch``), OOM and NaN epoch
    restarts and ``time=``-driven changes of ``trainer.epochs`` do not shift the schedule.
    """

    def __init__(self, share: float = 0.1, start: float = 30.0, end: float = 1.0):
        temperature_at(0.0, share, start, end)  # validates share
        self.share, self.start, self.end = share, start, end
        self.step, self.total = 0, 1

    def _sync(self, trainer, epoch: int) -> None:
        nb = max(len(trainer.train_loader), 1)
        self.total = max(int(trainer.epochs) * nb, 1)
        self.step = int(epoch) * nb

    def _apply(self, trainer, value: float) -> None:
        ema = getattr(trainer, "ema", None)
        for m in _odconvs(getattr(trainer, "model", None)) + _odconvs(getattr(ema, "ema", None)):
            m.temperature = value

    def current(self) -> float:
        return temperature_at(self.step / self.total, self.share, self.start, self.end)

    def on_train_start(self, trainer) -> None:
        self._sync(trainer, getattr(trainer, "start_epoch", 0))
        self._apply(trainer, self.current())

    def on_train_epoch_start(self, trainer) -> None:
        self._sync(trainer, getattr(trainer, "epoch", getattr(trainer, "start_epoch", 0)))

    def on_train_batch_start(self, trainer) -> None:
        self._apply(trainer, self.current())
        self.step += 1

    def on_train_end(self, trainer) -> None:
        self._apply(trainer, float(self.end))


def add_temperature_schedule(yolo_model, share: float = 0.1) -> TemperatureSchedule:
    """Register a ``TemperatureSchedule`` on an ``ultralytics.YOLO`` model; returns it."""
    sched = TemperatureSchedule(share=share)
    for event in ("on_train_start", "on_train_epoch_start", "on_train_batch_start", "on_train_end"):
        yolo_model.add_callback(event, getattr(sched, event))
    return sched
