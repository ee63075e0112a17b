"""What `shapenas train` prints about the model it trains: one description, ours, instead of Ultralytics' own.

Ultralytics prints a layer table and a summary each time it builds a model (`YOLO(path)`, then again in the trainer),
and a "(fused)" summary before its final validation. Its table lists the stock stand-ins it built for our rows
(`shapenas.ultralytics.build`) with their parameter counts, and its GFLOPs miss our modules' per-sample work, so both
contradict our table and `export`. Through its public hooks: the trainer class (`model.train(trainer=...)`) builds
quietly, and a logging filter drops the summary lines; `shapenas.commands.train` prints the model as shapenas
counts it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from typing import Iterator

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
