"""`shapenas worker --workers-per-device K`: K worker processes per GPU, each pinned to its GPU, run to the end.

A tiny proxy model leaves a big GPU mostly idle, so several workers share one. Each is a plain `shapenas worker`
subprocess that sees one GPU (`CUDA_VISIBLE_DEVICES`), so `proxy.device: auto` (or 0) is that GPU; with no GPU they
all train on the CPU. The children run in their own session: a Ctrl-C at the terminal reaches this process only,
which forwards it (and SIGTERM) once to every child, so each closes its running trial as FAIL and exits.
When every child that failed gave up on an unreachable storage (exit code 75), so does the pool.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from shapenas.errors import UserError
from shapenas.search.fleet.outage import EXIT_CODE as STORAGE_UNAVAILABLE

FORWARDED = (signal.SIGINT, signal.SIGTERM)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` names them (physical indices or UUIDs)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [name.strip() for name in visible.split(",") if name.strip()]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def worker_pins(devices: str | None, per_device: int) -> list[str | None]:
    """One `CUDA_VISIBLE_DEVICES` value per worker process; None: a CPU worker (no GPU, or none asked for)."""
    if per_device < 1:
        raise UserError(f"--workers-per-device: expected an integer >= 1, got {per_device}")
    gpus = visible_gpus()
    if devices is None:
        chosen: list[str | None] = list(gpus) or [None]
    elif devices == "cpu":
        chosen = [None]
    else:
        if not re.fullmatch(r"\d+(,\d+)*", devices):
            raise UserError(f"--devices: expected GPU indices like 0,1 or cpu, got {devices!r}")
        chosen = list(dict.fromkeys(devices.split(",")))
        missing = [d for d in chosen if d not in gpus]
        if missing:
            visible = ",".join(gpus) or "none"
            raise UserError(f"--devices {devices}: GPU {missing[0]} is not visible (visible: {visible})")
    return [pin for pin in chosen for _ in range(per_device)]


def _environment(pin: str | None) -> dict[str, str]:
    env = dict(os.environ)
    # An empty list hides every GPU, so a CPU worker never grabs GPU memory by accident.
    env["CUDA_VISIBLE_DEVICES"] = pin if pin is not None else ""
    return env


def run_pool(command: list[str], pins: list[str | None]) -> int:
    """Run `command` once per pin and wait for all; 128 + signal after a forwarded signal, 75 if the children that
    failed all gave up on the storage, 1 if any other failed."""
    children: list[subprocess.Popen] = []
    received: list[int] = []

    def forward(signum: int, frame) -> None:
        received.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        for pin in pins:
            children.append(subprocess.Popen(command, env=_environment(pin), start_new_session=True))
            where = f"GPU {pin}" if pin is not None else "CPU"
            print(f"worker process {children[-1].pid} on {where}", file=sys.stderr, flush=True)
        codes = [child.wait() for child in children]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        return 128 + received[0]
    failed = [f"{child.pid} (exit code {code})" for child, code in zip(children, codes, strict=True) if code != 0]
    if failed:
        print(f"worker processes failed: {', '.join(failed)}", file=sys.stderr)
        return STORAGE_UNAVAILABLE if all(code in (0, STORAGE_UNAVAILABLE) for code in codes) else 1
    return 0
