"""Helpers shared by several test files (import them; test modules do not import each other)."""

from __future__ import annotations

import pytest
import torch

# ---- modules and spaces -------------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """One intra-op thread: the tensors in module and space tests are small, and on a shared 2-core machine extra
    threads only add barrier waits (measured: the conformance suite 48 s with 2 threads beside a benchmark, 7 s with
    1). Use with `pytestmark = pytest.mark.usefixtures("one_thread")` after importing it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Parametrise a test with `device` over these: the CUDA case runs where a GPU is visible and is skipped elsewhere.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]
