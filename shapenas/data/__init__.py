"""Datasets shapenas can make itself (Ultralytics cannot download any in tests or offline)."""

from shapenas.data.synth import CLASS_NAMES, write_synthetic_dataset

__all__ = ["CLASS_NAMES", "write_synthetic_dataset"]
