"""What a result was computed with: library versions and the device. Proxy scores repeat exactly on one machine and
differ between machines by about the proxy's seed noise, so every trial records this and a process whose environment
differs from its study's says so."""

from __future__ import annotations

import functools
import platform
import re
import sys
from importlib import metadata

from shapenas.search.results.study_attrs import ENVIRONMENT_ATTR

COMPARED = ("torch", "ultralytics", "optuna", "device")


@functools.lru_cache(maxsize=4)
def environment(device: str) -> dict[str, str]:
    """Versions of Python, torch, Ultralytics and Optuna, and the name of `device` (`proxy.device` resolved)."""
    import torch

    from shapenas.latency import device_name

    index = re.search(r"\d+", device)  # "0", "0,1", "cuda:1", "cuda": the first GPU named
    where = torch.device("cpu" if device in ("cpu", "mps") else f"cuda:{index[0] if index else 0}")
    return {
        "python": platform.python_version(),
        # installed versions, read without importing the libraries (Ultralytics is imported only in its seam)
        **{name: metadata.version(name) for name in ("torch", "ultralytics", "optuna")},
        "device": device_name(where),
    }


def differences(mine: dict, study: dict) -> list[str]:
    """`name study -> mine` for each compared entry that differs."""
    return [f"{key} {study.get(key)} -> {mine.get(key)}" for key in COMPARED if study.get(key) != mine.get(key)]


def note_differences(mine: dict, study_attrs: dict, study_name: str) -> None:
    """One line on stderr when this process computes with another environment than the study's creator did."""
    stored = study_attrs.get(ENVIRONMENT_ATTR)
    changed = differences(mine, stored) if isinstance(stored, dict) else []
    if changed:
        print(
            f"note: study {study_name!r} was created with another environment ({'; '.join(changed)}); scores from "
            "here may differ from its other trials' by about the proxy's noise",
            file=sys.stderr,
        )
