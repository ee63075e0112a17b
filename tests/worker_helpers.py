"""Shared by the worker tests: a genuinely tiny search (one upsample slot, three candidates, 1 epoch at 32 px on the
tiny dataset, about 2 s a trial on a CPU), worker subprocesses, and snapshots of a study's trials."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import optuna
import yaml

from shapenas.search.fleet.storage import open_storage

CLI = [sys.executable, "-m", "shapenas.cli"]
# What every trained (or reused) trial must carry, whichever worker ran it.
RESULT_ATTRS = (
    "key",
    "summary",
    "candidate",
    "yaml",
    "params",
    "gflops",
    "map50_95",
    "map50",
    "epoch_map50_95",
    "train_seconds",
    "device",
)


def write_tiny_config(folder, data, trials: int, epochs: int = 1):
    """Layer 13 (an nn.Upsample) may become DySample(lp, groups 1 or 2): three candidates, so twins are certain."""
    config = {
        "base": "yolov8n.yaml",
        "data": str(data),
        "space": {"slots": [13], "dysample": {"style": ["lp"], "groups": [1, 2]}},
        "proxy": {
            "epochs": epochs,
            "imgsz": 32,
            "batch": 8,
            "workers": 0,
            "device": "cpu",
            "seed": 0,
            "noise_seeds": 0,
        },
        "search": {"trials": trials, "sampler": "random", "seed": 0, "presets": ["baseline"]},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(*args, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def start_worker(storage: str, study: str, cwd, *extra, log_name: str = "worker") -> subprocess.Popen:
    """A `shapenas worker` in its own session (so a test can signal it alone); stderr goes to a log file in cwd."""
    log = open(os.path.join(cwd, f"{log_name}.log"), "w")
    args = [*CLI, "worker", "--storage", storage, "--study", study, *map(str, extra)]
    return subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def retries_of(study, number: int) -> list:
    """The trials that retry trial `number`'s candidate (`coordination.queue_again` names the trial they retry)."""
    return [t for t in study.trials if t.user_attrs.get("retry_of") == number]


def wait_for(predicate, timeout: float, poll: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def load(storage: str, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=open_storage(storage, create=False))


def snapshot(study: optuna.Study) -> dict:
    """Everything stored per trial, to compare a study before and after."""
    return {t.number: (t.state, t.values, t.params, t.user_attrs, t.system_attrs) for t in study.get_trials()}


def kill_all(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
