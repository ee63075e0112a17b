"""What shapenas reads from an Ultralytics trainer (`YOLO.trainer`, or the `trainer` every callback receives)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn


def current_epoch(trainer: Any) -> int:
    """0-based index of the epoch being trained (before training starts: the epoch it starts from)."""
    return int(getattr(trainer, "epoch", start_epoch(trainer)))


def start_epoch(trainer: Any) -> int:
    """The epoch training (re)starts from: 0, or where a resumed run left off."""
    return int(getattr(trainer, "start_epoch", 0))


def total_epochs(trainer: Any) -> int:
    """Epochs the run trains for (Ultralytics may change it during training when `time=` is set)."""
    return int(trainer.epochs)


def batches_per_epoch(trainer: Any) -> int:
    return max(len(trainer.train_loader), 1)


def batch_loss(trainer: Any) -> torch.Tensor | None:
    """The loss items of the batch just trained (None before the first)."""
    return trainer.loss


def epoch_metrics(trainer: Any) -> dict:
    """The last validation's metrics by Ultralytics' key names (see `shapenas.ultralytics.metrics`); {} before one."""
    return dict(trainer.metrics or {})


def best_weights(trainer: Any) -> Path:
    """Where the trainer saves (or would save) its best checkpoint."""
    return Path(trainer.best)


def trained_models(trainer: Any) -> list[nn.Module]:
    """The model being trained (unwrapped from DDP/DP) and its EMA copy, whichever exist yet."""
    model = getattr(trainer, "model", None)
    ema = getattr(getattr(trainer, "ema", None), "ema", None)
    models = [getattr(model, "module", model), ema]
    return [m for m in models if isinstance(m, nn.Module)]


def last_trainer(yolo_model: Any) -> Any:
    """The trainer of the last `YOLO.train` call."""
    return yolo_model.trainer


def add_callbacks(yolo_model: Any, callbacks: dict[str, Callable[[Any], None]]) -> None:
    """Register `event -> function(trainer)` callbacks on an `ultralytics.YOLO` model."""
    for event, function in callbacks.items():
        yolo_model.add_callback(event, function)
