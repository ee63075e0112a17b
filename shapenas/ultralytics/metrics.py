"""Ultralytics' names for the detection metrics shapenas scores by."""

from __future__ import annotations

import math
from collections.abc import Mapping

MAP50_95 = "metrics/mAP50-95(B)"  # box mAP over IoU 0.50:0.95
MAP50 = "metrics/mAP50(B)"


def box_map(metrics: Mapping) -> tuple[float, float] | None:
    """(mAP50-95, mAP50) from a trainer's metrics dict; None when it holds no box mAP (nothing validated yet)."""
    if MAP50_95 not in metrics:
        return None
    return float(metrics[MAP50_95]), float(metrics.get(MAP50, math.nan))
