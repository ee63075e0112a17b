"""Shared fixtures: a tiny generated dataset (Ultralytics cannot download one here), quiet, offline Ultralytics, and
a throwaway PostgreSQL server."""

import os

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


def pytest_configure(config):
    """On a GPU, fp32 convolutions and matrix products in full fp32: cuDNN uses TF32 (10 mantissa bits, about 1e-3)
    by default on Ampere and later, and the CUDA cases compare at 1e-4 to 1e-5 (batch against single samples, CUDA
    against CPU). Reduced precision is tested on purpose, with its own tolerances, in test_module_amp.py."""
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """data.yaml of a 16 + 8 image synthetic dataset at 64 px, written once per test session."""
    from shapenas.data.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth") / "tiny", n_train=16, n_val=8, imgsz=64, seed=0)


@pytest.fixture(scope="module")
def postgres_server():
    """A throwaway PostgreSQL server (tests/postgres_server.py) for one test module; the tests that use it are
    skipped, with the reason, where none can be started here."""
    from tests.postgres_server import PostgresServer, why_not_available

    reason = why_not_available()
    if reason:
        pytest.skip(f"no PostgreSQL: {reason}")
    server = PostgresServer().start()
    yield server
    server.stop()
