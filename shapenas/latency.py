"""Latency of a candidate model as users deploy it, measured as a ratio to the base model.

How (issue 12, SPEC section 5c): a batch of one image at `imgsz`, eval mode, fused (BatchNorm folded, our modules
too), fp16 on CUDA; `warmup` untimed runs of each model, then `repeats` timed runs of each. Each candidate is timed
interleaved with the base model in the same process: the timed runs go in adjacent pairs, one of each model, so both
see the same machine load, and the ratio is the median of the per-pair ratios. The ratio, not the raw milliseconds,
is what an objective should use: it stays meaningful on a shared, noisy machine.

Backends: `torch` (the fused model on `device`) and `onnxruntime` (CPU only: the graph Ultralytics' exporter writes,
`shapenas.ultralytics.export`, run by ONNX Runtime, the most common CPU deployment path).
"""

from __future__ import annotations

import importlib.util
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shapenas.modules._checks import is_integer
from shapenas.ultralytics.export import export_onnx
from shapenas.ultralytics.fuse import fused_for_inference
from shapenas.ultralytics.introspect import input_channels

__all__ = ["BACKENDS", "Latency", "LatencyMeter", "LatencySettings", "time_interleaved"]

BACKENDS = ("torch", "onnxruntime")
STRIDE = 32  # the largest stride of YOLO detection models: the image side must be a multiple of it

Run = Callable[[], Any]


def _check_device(device: Any, backend: str) -> None:
    if device in ("auto", "cpu"):
        return
    if not is_integer(device) or device < 0:
        raise ValueError(f"latency device must be 'auto', 'cpu' or a CUDA index (0, 1, ...), got {device!r}")
    if backend == "onnxruntime":
        raise ValueError(f"latency backend 'onnxruntime' runs on the CPU: device must be 'auto' or 'cpu', got {device}")
    if device >= torch.cuda.device_count():
        raise ValueError(f"latency device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured. `device`: `auto` (the first GPU if any, else the CPU), `cpu` or a CUDA index (an int,
    or its digits); `threads`: intra-op threads (None: torch's current setting), used by both backends."""

    imgsz: int = 640
    device: str | int = "auto"
    backend: str = "torch"
    repeats: int = 20
    warmup: int = 3
    threads: int | None = None

    def __post_init__(self) -> None:
        if not is_integer(self.imgsz) or self.imgsz < STRIDE or self.imgsz % STRIDE:
            raise ValueError(f"latency imgsz must be a positive multiple of {STRIDE}, got {self.imgsz!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"latency backend must be one of {BACKENDS}, got {self.backend!r}")
        if isinstance(self.device, str) and self.device.isdigit():  # "0", as Ultralytics' device argument spells it
            object.__setattr__(self, "device", int(self.device))
        _check_device(self.device, self.backend)
        if not is_integer(self.repeats) or self.repeats < 1:
            raise ValueError(f"latency repeats must be an integer >= 1, got {self.repeats!r}")
        if not is_integer(self.warmup) or self.warmup < 0:
            raise ValueError(f"latency warmup must be an integer >= 0, got {self.warmup!r}")
        if self.threads is not None and (not is_integer(self.threads) or self.threads < 1):
            raise ValueError(f"latency threads must be an integer >= 1 or None, got {self.threads!r}")
        if self.backend == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
            raise ValueError(
                "latency backend 'onnxruntime' needs the onnxruntime package: pip install 'shapenas[onnx]'"
            )

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            use_cuda = self.backend == "torch" and torch.cuda.is_available()
            return torch.device("cuda", 0) if use_cuda else torch.device("cpu")
        return torch.device("cpu") if self.device == "cpu" else torch.device("cuda", self.device)


@dataclass(frozen=True)
class Latency:
    """One candidate's latency: its median `ms`, its `ratio` to the base (median of per-pair ratios) and the base's
    median `base_ms`, with what they were measured on."""

    ms: float
    ratio: float
    base_ms: float
    backend: str
    device: str
    threads: int
    imgsz: int
    repeats: int

    def attrs(self) -> dict[str, Any]:
        """Flat, JSON-able, each key prefixed `latency_` (to store on a trial)."""
        return {f"latency_{key}": value for key, value in asdict(self).items()}


def pair_orders(repeats: int, seed: int = 0) -> list[tuple[int, int]]:
    """Which model runs first in each of `repeats` pairs (0: base, 1: candidate): base first in half of them (the
    extra one when odd), in a seeded random order. Balanced, so neither gains from running second (warm caches, a
    clock ramping up); not alternating, so load that comes and goes at a steady beat (other jobs on a shared
    machine) cannot fall on the same model's runs pair after pair."""
    orders = [(0, 1)] * ((repeats + 1) // 2) + [(1, 0)] * (repeats // 2)
    random.Random(seed).shuffle(orders)
    return orders


def time_interleaved(base: Run, candidate: Run, repeats: int, warmup: int, sync: Callable[[], None] = lambda: None):
    """Milliseconds of `repeats` runs of each, as (base, candidate) lists, after `warmup` untimed runs of each.

    The timed runs go in adjacent pairs, one run of each, in the orders of `pair_orders`. `sync` waits for the device
    (CUDA) before and after each timed run.
    """
    for _ in range(warmup):
        base()
        candidate()
    times: dict[int, list[float]] = {0: [], 1: []}
    for order in pair_orders(repeats):
        for which in order:
            run = base if which == 0 else candidate
            sync()
            start = time.perf_counter()
            run()
            sync()
            times[which].append((time.perf_counter() - start) * 1e3)
    return times[0], times[1]


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name (from /proc/cpuinfo on Linux)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _torch_run(model: nn.Module, imgsz: int, device: torch.device) -> Run:
    """One batch-1 inference of `model` fused in place, moved to `device` (fp16 on CUDA)."""
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = fused_for_inference(model).to(device, dtype)
    image = torch.rand(1, input_channels(model), imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    image = image.to(device, dtype)
    return lambda: model(image)


def _onnxruntime_run(model: nn.Module, imgsz: int, threads: int) -> Run:
    """One batch-1 inference of `model` exported by Ultralytics' exporter, in an ONNX Runtime CPU session."""
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    with tempfile.TemporaryDirectory(prefix="shapenas-latency-") as folder:
        path = export_onnx(model.cpu().float().eval(), imgsz, Path(folder) / "model.onnx")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    image = np.random.default_rng(0).random((1, input_channels(model), imgsz, imgsz), dtype=np.float32)
    return lambda: session.run(None, {name: image})


@contextmanager
def torch_threads(threads: int):
    """Torch's intra-op thread count set for a block and restored after it (training keeps its own setting)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class LatencyMeter:
    """Times candidates against one base model, prepared once. Models handed in are fused in place."""

    def __init__(self, base: nn.Module, settings: LatencySettings):
        self.settings = settings
        self.device = settings.torch_device()
        self.threads = settings.threads or torch.get_num_threads()
        self._base = self._prepare(base)

    def _prepare(self, model: nn.Module) -> Run:
        with torch_threads(self.threads):
            if self.settings.backend == "onnxruntime":
                return _onnxruntime_run(model, self.settings.imgsz, self.threads)
            return _torch_run(model, self.settings.imgsz, self.device)

    def measure(self, model: nn.Module) -> Latency:
        """`model`'s latency and its ratio to the base, timed interleaved with the base."""
        s = self.settings
        candidate = self._prepare(model)
        sync = (lambda: torch.cuda.synchronize(self.device)) if self.device.type == "cuda" else (lambda: None)
        with torch_threads(self.threads), torch.inference_mode():
            base_ms, ms = time_interleaved(self._base, candidate, s.repeats, s.warmup, sync)
        ratio = statistics.median(c / b for b, c in zip(base_ms, ms, strict=True))
        return Latency(
            ms=round(statistics.median(ms), 4),
            ratio=round(ratio, 4),
            base_ms=round(statistics.median(base_ms), 4),
            backend=s.backend,
            device=device_name(self.device),
            threads=self.threads,
            imgsz=s.imgsz,
            repeats=s.repeats,
        )
