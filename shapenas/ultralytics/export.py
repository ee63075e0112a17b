"""ONNX export of a model built in memory, exactly as `YOLO.export(format="onnx")` exports it.

What Ultralytics' exporter does with our modules (checked with a model holding all five): it deep-copies the model,
fuses it (our modules too, see `fuse.py`), puts the detection head in export mode (one output, boxes decoded),
traces it with `torch.onnx.export` at a fixed batch and image size, at the opset it picks (18 with torch 2.14), and
slims the graph with onnxslim. A fixed size is what our modules need: AKConv bakes H and W into the graph, and the
dynamic convolutions (ODConv, DynamicConv) fold the batch into their groups. `dynamic=True` is therefore refused.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn


def export_onnx(model: nn.Module, imgsz: int, path: str | Path, simplify: bool = True) -> Path:
    """Write `model` (an Ultralytics model) to `path` (`.onnx`) for a batch of one `imgsz` x `imgsz` image.

    The exporter reads two attributes that `YOLO(...)` sets and a model built from a YAML dict lacks: `task`, and
    `pt_path`, the checkpoint it names its output after (a YAML-built model's output would land in the working
    directory). They are set on a copy; `model` itself is not changed.
    """
    from ultralytics.engine.exporter import Exporter
    from ultralytics.nn.tasks import guess_model_task

    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"export_onnx: the path must end in .onnx, got {str(path)!r}")
    ready = copy.deepcopy(model)
    ready.task = getattr(model, "task", None) or guess_model_task(model)
    ready.pt_path = str(path.with_suffix(".pt"))
    args = {"format": "onnx", "imgsz": imgsz, "batch": 1, "dynamic": False, "simplify": simplify, "device": "cpu"}
    with warnings.catch_warnings():  # the tracer warns that sizes become constants: a fixed size is the intent
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        written = Path(Exporter(overrides={**args, "mode": "export"})(model=ready))
    if written.resolve() != path.resolve():  # the exporter's naming rule changed: fail here, not in a search
        raise RuntimeError(f"export_onnx: Ultralytics wrote {written}, expected {path}")
    return path
