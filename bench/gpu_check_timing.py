"""Where an in-process search's training time goes: waiting for the data loader or computing (GPU check, part c).

Ultralytics' trainer calls `on_train_batch_start` right after its loader yields a batch and `on_train_batch_end`
after the optimizer step and the progress update, so the time from one batch's end (or the epoch's start) to the
next batch's start is the wait for data, and start to end is the step. The progress update reads the loss, which
synchronises with the GPU every batch, so GPU work is charged to the step it belongs to. Installed into Ultralytics'
default callbacks, so every trainer created afterwards in this process (the parent and each trial) reports here.
"""

from __future__ import annotations

import statistics
import time


class LoopTiming:
    def __init__(self):
        self.wait_s = self.step_s = 0.0
        self.epoch_s: list[float] = []
        self.amp: set[bool] = set()
        self._mark = self._epoch_start = time.perf_counter()

    def on_train_start(self, trainer) -> None:
        self.amp.add(bool(trainer.amp))  # False when Ultralytics' AMP check failed or on the CPU

    def on_train_epoch_start(self, trainer) -> None:
        self._mark = self._epoch_start = time.perf_counter()

    def on_train_batch_start(self, trainer) -> None:
        now = time.perf_counter()
        self.wait_s += now - self._mark
        self._mark = now

    def on_train_batch_end(self, trainer) -> None:
        now = time.perf_counter()
        self.step_s += now - self._mark
        self._mark = now

    def on_train_epoch_end(self, trainer) -> None:
        self.epoch_s.append(time.perf_counter() - self._epoch_start)

    def summary(self) -> dict:
        total = self.wait_s + self.step_s
        return {
            "loader_wait_s": round(self.wait_s, 1),
            "step_s": round(self.step_s, 1),
            "loader_share": round(self.wait_s / total, 3) if total else None,
            "train_loop_s_per_epoch": round(statistics.median(self.epoch_s), 2) if self.epoch_s else None,
            "amp": sorted(self.amp),
        }


def _caller(timing: LoopTiming, event: str):
    def call(trainer) -> None:
        getattr(timing, event)(trainer)

    return call


def install() -> LoopTiming:
    """A `LoopTiming` fed by every Ultralytics trainer made from now on in this process."""
    from ultralytics.utils.callbacks import base

    timing = LoopTiming()
    # each YOLO model deep-copies the defaults, and a deep copy of a bound method copies its instance: register
    # plain functions (copied as themselves) that call this one `timing`
    events = ("on_train_start", "on_train_epoch_start", "on_train_batch_start", "on_train_batch_end")
    for event in (*events, "on_train_epoch_end"):
        base.default_callbacks[event].append(_caller(timing, event))
    return timing
