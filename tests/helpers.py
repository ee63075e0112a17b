"""Helpers shared by several test files (import them; test modules do not import each other)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import optuna
import pytest
import torch
import yaml

from shapenas.evaluators import Evaluator, Job, ProxyResult
from shapenas.search.results.objectives import Objectives

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


# ---- searches, studies and trial records --------------------------------------------------------------------------


def write_config(folder, data, trials=2, epochs=1):
    """A tiny real search: two head convs and one upsample of yolov8n (quick builds), 64 px, 1 epoch by default."""
    config = {
        "base": "yolov8n.yaml",
        "data": str(data),
        "space": {"slots": [16, 19, 13]},
        "proxy": {
            "epochs": epochs,
            "imgsz": 64,
            "batch": 8,
            "workers": 0,
            "device": "cpu",
            "seed": 0,
            "noise_seeds": 0,
        },
        "cost": {"imgsz": 64},  # GFLOPs at the training size: quick, and comparable with the proxy's own count
        "search": {"trials": trials, "sampler": "nsga2", "seed": 0, "presets": ["baseline"]},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def shapenas_cli(*args, cwd, check=True, timeout=600) -> subprocess.CompletedProcess:
    """`python -m shapenas.cli ARGS` in `cwd`; asserts exit code 0 unless `check=False`."""
    done = subprocess.run(
        [sys.executable, "-m", "shapenas.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, done.stderr[-4000:]
    return done


def load(storage, name="a") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


GFLOPS_AT_64 = Objectives(("map50_95", "gflops"), imgsz=64)  # the default objectives, costed at 64 px


class FixedProxy(Evaluator[ProxyResult]):
    """Stands in for the proxy trainer: every candidate scores `map50_95`; counts its calls (the trainings)."""

    def __init__(self, map50_95: float = 0.5):
        self.map50_95, self.calls = map50_95, 0

    def evaluate(self, job: Job) -> ProxyResult:
        self.calls += 1
        return ProxyResult(self.map50_95, 0.7, [self.map50_95], [0.7], train_seconds=0.0, device="cpu", weights=None)


# ---- storages -----------------------------------------------------------------------------------------------------

SQLITE_BUSY_SECONDS = 5  # sqlite3's own wait for a lock (Python's default timeout), before our retry starts


class ExclusiveLock:
    """Another connection holds an exclusive lock on the SQLite file, as a long write would, for `seconds` at most."""

    def __init__(self, path, seconds: float):
        self._locked, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(path, seconds), daemon=True)
        self._thread.start()
        assert self._locked.wait(30)

    def _hold(self, path, seconds: float) -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        self._locked.set()
        self._release.wait(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    def release(self) -> None:
        self._release.set()
        self._thread.join()
