"""What `shapenas train` prints about the model it trains: one description, ours, instead of Ultralytics' own.

Ultralytics prints a layer table and a summary each time it builds a model (`YOLO(path)`, then again in the trainer),
and a "(fused)" summary before its final validation. Its table lists the stock stand-ins it built for our rows
(`shapenas.ultralytics.build`) with their parameter counts, and its GFLOPs miss our modules' per-sample work, so both
contradict our table and `export`. Through its public hooks: the trainer class (`model.train(trainer=...)`) builds
quietly, and a logging filter drops the summary lines; `describe` prints the model as shapenas counts it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from typing import Any, Iterator

from shapenas.cost import yaml_cost
from shapenas.ultralytics.inherit import detection_model

DEPLOY_IMGSZ = 640  # GFLOPs at the size `export` and the search report them
_STOCK_SUMMARY = re.compile(r"^\S+ summary( \(fused\))?: [\d,]+ layers")


@functools.cache
def quiet_trainer() -> type:
    """Ultralytics' detection trainer, building its model without printing a table or summary."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    class QuietTrainer(DetectionTrainer):
        def get_model(self, cfg=None, weights=None, verbose=True):
            return super().get_model(cfg=cfg, weights=weights, verbose=False)

    return QuietTrainer


class _DropStockSummaries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _STOCK_SUMMARY.match(str(record.getMessage()).strip())


@contextlib.contextmanager
def without_stock_summaries() -> Iterator[None]:
    """Within the block, Ultralytics' model summary lines (GFLOPs without our modules' work) are not printed."""
    from ultralytics.utils import LOGGER

    dropped = _DropStockSummaries()
    LOGGER.addFilter(dropped)
    try:
        yield
    finally:
        LOGGER.removeFilter(dropped)


def describe(yolo: Any, label: str) -> str:
    """Each layer as built (our modules by name, their real parameter counts), then params and GFLOPs@640."""
    model = detection_model(yolo)
    rows = model.yaml["backbone"] + model.yaml["head"]  # the YAML's own arguments (unscaled channels)
    lines = [f"{'layer':>5}  {'from':>12}  {'params':>10}  {'module':<16}  YAML arguments"]
    for layer, row in zip(model.model, rows, strict=True):
        params, name = sum(p.numel() for p in layer.parameters()), type(layer).__name__
        lines.append(f"{layer.i:>5}  {str(layer.f):>12}  {params:>10,}  {name:<16}  {row[3]}")
    cost = yaml_cost(model.yaml, DEPLOY_IMGSZ)
    summary = f"{label}: {len(model.model)} layers, {cost.params:,} parameters, {cost.gflops:.3f} GFLOPs@{DEPLOY_IMGSZ}"
    return "\n".join([*lines, summary + " (shapenas' count, as export reports it)"])
