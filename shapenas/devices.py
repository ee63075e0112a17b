"""The proxy's training device: `proxy.device` resolved for Ultralytics, and checked to exist on this machine.

The config schema checks the spelling (`auto`, `cpu`, `mps`, `0`, `0,1`, `cuda:N`); whether that device is here can
only be told on the machine that trains, so the commands that train call `check_device` before touching a study.
"""

from __future__ import annotations

import re

from shapenas.errors import UserError


def resolve_device(device: str | int) -> str:
    """`auto` is the first GPU when there is one, else the CPU; anything else goes to Ultralytics as given."""
    import torch

    if str(device) == "auto":
        return "0" if torch.cuda.is_available() else "cpu"
    return str(device)


def _gpu_indices(device: str) -> list[int]:
    if device == "cuda":
        return [0]
    return [int(index) for index in re.findall(r"\d+", device)]


def check_device(device: str, key: str = "proxy.device") -> None:
    """`UserError` naming `key` and the devices this process can see, unless `device` is one of them."""
    import torch

    if device in ("auto", "cpu"):
        return
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise UserError(f"{key}: 'mps' is not available on this machine; use auto or cpu")
        return
    count = torch.cuda.device_count()
    missing = [index for index in _gpu_indices(device) if index >= count]
    if missing:
        visible = ", ".join(map(str, range(count))) or "none"
        raise UserError(f"{key}: GPU {missing[0]} of {device!r} is not visible here (visible GPUs: {visible})")
