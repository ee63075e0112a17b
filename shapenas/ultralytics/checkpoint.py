"""Reading Ultralytics checkpoints without running code from them, and comparing their architecture with a base.

A `.pt` checkpoint is a pickle; unpickling one made by someone else can run any code. Checkpoints are therefore read
with Ultralytics' restricted loader (`torch_safe_load(..., safe_only=True)`: weights-only unpickling against an
allow-list of known Ultralytics and torch classes), with every registered module (`shapenas.modules.MODULES`) added
to torch's allow-list.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from shapenas.modules import MODULES


def _allow_our_modules() -> None:
    # read at each load: a module registered after import (a plugin, a test's sixth module) loads too
    torch.serialization.add_safe_globals([spec.cls for spec in MODULES.values()])


def load_detection_model(path: str | Path) -> nn.Module:
    """The model an Ultralytics checkpoint holds (its EMA first, as Ultralytics loads it), in eval mode on the CPU.

    `ValueError` with a one-line reason when the file is missing, is not a readable checkpoint, references types
    outside the allow-list, or holds no detection model.
    """
    from ultralytics.nn.tasks import DetectionModel, torch_safe_load

    path = Path(path)
    if not path.is_file():
        raise ValueError("no such file")
    if path.suffix != ".pt":
        raise ValueError("expected an Ultralytics .pt checkpoint")
    _allow_our_modules()
    try:
        checkpoint, _ = torch_safe_load(str(path), safe_only=True)
    except (TypeError, ModuleNotFoundError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        # Ultralytics' own message repeats the path and suggests another model: the type is what is worth saying
        raise ValueError(f"not a checkpoint that can be read safely ({type(error).__name__})") from None
    model = (checkpoint.get("ema") or checkpoint.get("model")) if isinstance(checkpoint, dict) else None
    if not isinstance(model, DetectionModel):
        raise ValueError("holds no Ultralytics detection model")
    return model.float().eval()


def _tensor_shapes(layer: nn.Module) -> dict[str, tuple]:
    return {name: tuple(t.shape) for name, t in layer.state_dict().items()}


def _head_shapes(head: nn.Module) -> dict[str, tuple]:
    """A Detect head's shapes that do not depend on the class count (box branch, DFL)."""
    return {name: shape for name, shape in _tensor_shapes(head).items() if not name.startswith(("cv3", "one2one_cv3"))}


def first_difference(model: nn.Module, base: nn.Module) -> str | None:
    """Where `model` (e.g. a checkpoint's) stops being `base`'s architecture, in words; None when it does not.

    Layer types and tensor shapes must match; a Detect head may have another class count.
    """
    from ultralytics.nn.modules import Detect

    for index, (ours, theirs) in enumerate(zip(model.model, base.model, strict=False)):
        if type(ours) is not type(theirs):
            return f"layer {index} is {type(ours).__name__}, the base has {type(theirs).__name__}"
        shapes = _head_shapes if isinstance(ours, Detect) else _tensor_shapes
        if shapes(ours) != shapes(theirs):
            mine, want = shapes(ours), shapes(theirs)
            name = next((k for k in want if mine.get(k) != want[k]), next(iter(mine.keys() - want.keys()), "?"))
            return f"layer {index} {type(ours).__name__}: {name} is {mine.get(name)}, the base has {want.get(name)}"
    if len(model.model) != len(base.model):
        return f"it has {len(model.model)} layers, the base {len(base.model)}"
    return None
