"""GPU utilisation and memory sampled in a thread while a part of the GPU check runs (issue 20).

NVML (`nvidia-ml-py`, imported as `pynvml`) when it is installed, else `nvidia-smi`; neither: nothing is sampled and
the summary says why. Device-wide figures: they include every process on the GPU and its CUDA context.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import threading

PERIOD_S = 0.5


def _nvml_reader():
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)

    def read() -> tuple[float, float]:
        util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
        return float(util), pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20

    return read


def _smi_reader():
    if shutil.which("nvidia-smi") is None:
        raise RuntimeError("neither pynvml nor nvidia-smi is installed")
    query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-i", "0"]

    def read() -> tuple[float, float]:
        util, used = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout.split(",")
        return float(util), float(used)

    return read


def reader():
    """A function returning (utilisation %, memory used MiB) of GPU 0; raises when there is no way to read them."""
    try:
        read = _nvml_reader()
    except Exception:  # no pynvml, or no NVIDIA driver behind it
        read = _smi_reader()
    read()  # fails here, not in the thread, when there is no GPU
    return read


class GpuSampler:
    """`with GpuSampler() as s: ...` then `s.summary()`: mean and max utilisation, peak memory used."""

    def __init__(self, enabled: bool = True):
        self.samples: list[tuple[float, float]] = []
        self.reason = None if enabled else "no CUDA device"
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self) -> GpuSampler:
        if self.reason is None:
            try:
                self._read = reader()
            except Exception as error:
                self.reason = f"cannot read the GPU: {error}"
                return self
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(PERIOD_S):
            try:
                self.samples.append(self._read())
            except Exception:  # a sample missed is not worth failing a part for
                continue

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def summary(self) -> dict:
        if not self.samples:
            return {"sampled": False, "reason": self.reason or "no samples"}
        util = [u for u, _ in self.samples]
        return {
            "sampled": True,
            "samples": len(self.samples),
            "util_mean": round(statistics.fmean(util), 1),
            "util_max": max(util),
            "mem_peak_mib": round(max(m for _, m in self.samples)),
        }
