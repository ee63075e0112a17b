"""Proxy training: a short Ultralytics training run in this process, scored by mAP on the validation set.

In process (not `model.tune()`, whose subprocess cannot see our modules): `YOLO(model.yaml).train(...)` with the
proxy budget, ODConv's temperature annealed over that budget, and callbacks that record each epoch's mAP, hand it to
the job's `on_epoch` hook, and stop the run at the first non-finite loss.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch

from shapenas.config_schema import ProxyConfig
from shapenas.devices import resolve_device
from shapenas.errors import first_line
from shapenas.evaluators.base import (
    EpochMetrics,
    EvaluationFailed,
    Evaluator,
    Job,
    ProxyResult,
    checked_model_yaml,
)
from shapenas.spaces.yaml_text import model_yaml_text
from shapenas.ultralytics import trainer as trainers
from shapenas.ultralytics.build import BuildError, yolo_model
from shapenas.ultralytics.callbacks import add_frozen_batchnorm, add_temperature_schedule
from shapenas.ultralytics.metrics import box_map

_CUDA_OOM_MARKERS = ("CUDA error: out of memory", "CUBLAS_STATUS_ALLOC_FAILED")
_TRAIN_KEYS = (
    "epochs",
    "imgsz",
    "batch",
    "fraction",
    "seed",
    "workers",
    "cache",
)  # `proxy` keys Ultralytics takes as is


class _EpochRecorder:
    """Ultralytics callbacks: per-epoch mAP for the trial, the job's hook, and a stop on NaN/inf loss."""

    def __init__(self, job: Job):
        self.job = job
        self.map50_95: list[float] = []
        self.map50: list[float] = []

    def on_train_batch_end(self, trainer) -> None:
        loss = trainers.batch_loss(trainer)
        if loss is not None and not torch.isfinite(loss).all():
            raise EvaluationFailed(f"loss became {loss.sum().item()} in epoch {trainers.current_epoch(trainer) + 1}")

    def on_fit_epoch_end(self, trainer) -> None:
        scores = box_map(trainers.epoch_metrics(trainer))
        # Ultralytics calls this once more after validating best.pt at the end: that is not a new epoch.
        if scores is None or len(self.map50_95) >= trainers.total_epochs(trainer):
            return
        self.map50_95.append(round(scores[0], 6))
        self.map50.append(round(scores[1], 6))
        if self.job.on_epoch is not None:
            self.job.on_epoch(len(self.map50_95), EpochMetrics(self.map50_95[-1], self.map50[-1]))

    def register(self, model) -> None:
        trainers.add_callbacks(
            model, {"on_train_batch_end": self.on_train_batch_end, "on_fit_epoch_end": self.on_fit_epoch_end}
        )


class _StartsFromInherited:
    """Ultralytics callback: fails the run unless the trainer's model starts from the inherited weights.

    `train()` builds the model it trains anew and loads weights into it; if a future Ultralytics stopped doing that
    for an in-memory model, the candidate would silently train from scratch. Checked once, at `on_train_start`.
    """

    def __init__(self, model):
        self.expected = _fingerprint(model)

    def on_train_start(self, trainer) -> None:
        got = _fingerprint(trainers.trained_models(trainer)[0])
        if got.shape != self.expected.shape or not torch.allclose(got, self.expected.to(got.device), rtol=1e-6):
            raise EvaluationFailed("the trainer did not start from the inherited weights")


def _fingerprint(model) -> torch.Tensor:
    """One sum per state-dict tensor, in float64."""
    return torch.stack([t.detach().double().sum() for t in model.state_dict().values()])


class ProxyTrainer(Evaluator[ProxyResult]):
    """Trains on `data` as the config's `proxy` section says (epochs, imgsz, batch, ..., train_args).

    With a `parent` (a trained DetectionModel of the base), every candidate first inherits from it
    (`shapenas.inherit_weights`; `probe` images measure the swapped layers' errors), then fine-tunes.
    """

    def __init__(self, proxy: ProxyConfig, data: str, parent=None, probe=None, odconv_anneal_share: float = 0.1):
        self.proxy = proxy
        self.data = str(data)
        self.parent, self.probe = parent, probe
        self.odconv_anneal_share = odconv_anneal_share

    def _inherit(self, model) -> list[dict] | None:
        """Start `model` (a YOLO) from the parent; returns the per-layer records, None without a parent."""
        if self.parent is None:
            return None
        from shapenas.ultralytics.inherit import detection_model, train_from_parent

        records = train_from_parent(model, self.parent, self.probe, seed=self.proxy.seed)
        trainers.add_callbacks(model, {"on_train_start": _StartsFromInherited(detection_model(model)).on_train_start})
        return [record.to_dict() for record in records]

    def train_args(self, folder: Path, device: str) -> dict[str, Any]:
        return dict(
            **self.proxy.train_args,
            **self.proxy.arguments(_TRAIN_KEYS),
            data=self.data,
            deterministic=True,
            device=device,
            amp=device != "cpu",
            project=str(folder.resolve()),
            name="train",
            exist_ok=True,
            plots=False,
            verbose=False,
        )

    def _write_model_yaml(self, job: Job) -> Path:
        # Named after the base (e.g. yolov8n.yaml) so Ultralytics reads the same scale letter from the file name.
        path = job.folder / f"{job.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(model_yaml_text(checked_model_yaml(job)))
        return path

    def evaluate(self, job: Job) -> ProxyResult:
        device = resolve_device(self.proxy.device)
        try:
            # Seeded: a warm candidate keeps a few of its own initial weights (ODConv's squeeze), the same every time.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.proxy.seed)
                model = yolo_model(self._write_model_yaml(job))
        except BuildError as error:
            raise EvaluationFailed(f"build error: {error}") from None
        layer_init = self._inherit(model)
        recorder = _EpochRecorder(job)
        recorder.register(model)
        add_temperature_schedule(model, share=self.odconv_anneal_share)
        if self.proxy.bn == "frozen":
            add_frozen_batchnorm(model)
        start = time.perf_counter()
        try:
            model.train(**self.train_args(job.folder, device))
        except torch.cuda.OutOfMemoryError as error:
            raise EvaluationFailed(f"CUDA out of memory: {first_line(error)}") from None
        except RuntimeError as error:  # CUDA's own allocations (cuBLAS workspace, kernels) fail as RuntimeError
            if not any(marker in str(error) for marker in _CUDA_OOM_MARKERS):
                raise
            raise EvaluationFailed(f"CUDA out of memory: {first_line(error)}") from None
        result = self._result(trainers.last_trainer(model), recorder, device, time.perf_counter() - start)
        return result if layer_init is None else dataclasses.replace(result, layer_init=layer_init)

    @staticmethod
    def _result(trainer, recorder: _EpochRecorder, device: str, seconds: float) -> ProxyResult:
        map50_95, map50 = box_map(trainers.epoch_metrics(trainer)) or (math.nan, math.nan)
        if not (math.isfinite(map50_95) and math.isfinite(map50)):
            raise EvaluationFailed(f"validation gave no finite mAP (mAP50-95={map50_95})")
        best = trainers.best_weights(trainer)
        return ProxyResult(
            map50_95=round(map50_95, 6),
            map50=round(map50, 6),
            epoch_map50_95=recorder.map50_95,
            epoch_map50=recorder.map50,
            train_seconds=round(seconds, 2),
            device="cpu" if device == "cpu" else f"cuda:{torch.cuda.get_device_name()}",
            weights=str(best) if best.exists() else None,
        )
