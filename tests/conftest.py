"""Shared fixtures: a tiny generated dataset (Ultralytics cannot download one here) and quiet, offline Ultralytics."""

import os

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """data.yaml of a 16 + 8 image synthetic dataset at 64 px, written once per test session."""
    from shapenas.data.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth") / "tiny", n_train=16, n_val=8, imgsz=64, seed=0)
