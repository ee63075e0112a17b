"""Trainer callbacks: ODConv's temperature schedule, and BatchNorm statistics held fixed.

The schedule itself (`temperature_at`) is pure and lives with ODConv; this object applies it to every ODConv of the
model being trained and of its EMA copy, batch by batch, as Ultralytics callbacks.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from shapenas.modules.odconv import set_temperature, temperature_at
from shapenas.ultralytics import trainer as trainers

EVENTS = ("on_train_start", "on_train_epoch_start", "on_train_batch_start", "on_train_end")


class TemperatureSchedule:
    """Anneals every ODConv's temperature from `start` to `end` over the first `share` of the training batches.

    Counts training batches itself; `on_train_epoch_start` re-syncs the count to `epoch * batches per epoch`, so
    resume (a later start epoch), OOM and NaN epoch restarts and `time=`-driven changes of the epoch count do not
    shift the schedule.
    """

    def __init__(self, share: float = 0.1, start: float = 30.0, end: float = 1.0):
        temperature_at(0.0, share, start, end)  # validates share
        self.share, self.start, self.end = share, start, end
        self.step, self.total = 0, 1

    def _sync(self, trainer: Any, epoch: int) -> None:
        batches = trainers.batches_per_epoch(trainer)
        self.total = max(trainers.total_epochs(trainer) * batches, 1)
        self.step = epoch * batches

    def _apply(self, trainer: Any, value: float) -> None:
        for model in trainers.trained_models(trainer):
            set_temperature(model, value)

    def current(self) -> float:
        return temperature_at(self.step / self.total, self.share, self.start, self.end)

    def on_train_start(self, trainer: Any) -> None:
        self._sync(trainer, trainers.start_epoch(trainer))
        self._apply(trainer, self.current())

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._sync(trainer, trainers.current_epoch(trainer))

    def on_train_batch_start(self, trainer: Any) -> None:
        self._apply(trainer, self.current())
        self.step += 1

    def on_train_end(self, trainer: Any) -> None:
        self._apply(trainer, float(self.end))


def add_temperature_schedule(yolo_model: Any, share: float = 0.1) -> TemperatureSchedule:
    """Register a `TemperatureSchedule` on an `ultralytics.YOLO` model; returns it."""
    schedule = TemperatureSchedule(share=share)
    trainers.add_callbacks(yolo_model, {event: getattr(schedule, event) for event in EVENTS})
    return schedule


def _hold_batchnorm_statistics(trainer: Any) -> None:
    # The trainer puts the model in train mode at every epoch start; eval mode on BatchNorm alone keeps its running
    # statistics (and normalises with them) while its weight and bias still train.
    for model in trainers.trained_models(trainer)[:1]:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def add_frozen_batchnorm(yolo_model: Any) -> None:
    """Keep every BatchNorm's running mean and variance as the model starts training (`proxy.bn: frozen`)."""
    trainers.add_callbacks(yolo_model, {"on_train_batch_start": _hold_batchnorm_statistics})
