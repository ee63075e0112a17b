"""The parent of a warm-started search (`proxy.init: parent`) through the real CLI: a checkpoint that is not the
base's is refused before anything is written; a user's checkpoint is used as is; a `train` parent is trained once
per study, whichever processes ask for it at the same time, and reused on resume."""

from __future__ import annotations

import hashlib

import optuna
import pytest
import torch
import yaml

from shapenas.search.storage import open_storage
from shapenas.ultralytics.build import build_model, load_model_yaml
from tests.worker_helpers import cli, kill_all, load, start_worker, wait_for, write_tiny_config

pytestmark = pytest.mark.slow

WARM = {"init": "parent", "parent_epochs": 1, "train_args": {"lr0": 0.005, "warmup_epochs": 0, "mosaic": 0.0}}


def warm_config(folder, data, trials: int, **proxy) -> str:
    path = write_tiny_config(folder, data, trials)
    config = yaml.safe_load(path.read_text())
    config["proxy"].update({**WARM, **proxy})
    path.write_text(yaml.safe_dump(config))
    return path


def save_checkpoint(path, base: str = "yolov8n.yaml", nc: int = 5) -> str:
    """An Ultralytics-style checkpoint of a freshly built base."""
    torch.save({"model": build_model({**load_model_yaml(base), "nc": nc})}, path)
    return str(path)


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda folder: str(folder / "missing.pt"), "proxy.parent '{path}': no such file"),
        (
            lambda folder: (folder / "notes.pt").write_text("not a checkpoint") and str(folder / "notes.pt"),
            "proxy.parent '{path}': not a checkpoint that can be read safely (TypeError)",
        ),
        (
            lambda folder: save_checkpoint(folder / "yolov8s.pt", "yolov8s.yaml"),
            "proxy.parent '{path}': not a checkpoint of the base yolov8n.yaml: "
            "layer 0 Conv: conv.weight is (32, 3, 3, 3), the base has (16, 3, 3, 3)",
        ),
    ],
    ids=["missing", "not-a-checkpoint", "other-architecture"],
)
def test_a_parent_that_is_not_the_bases_checkpoint_is_refused_before_anything_is_written(
    tmp_path, tiny_data, make, message
):
    path = make(tmp_path)
    config = warm_config(tmp_path, tiny_data, 1, parent=path)
    storage = tmp_path / "study.db"
    done = cli("search", config, "--storage", f"sqlite:///{storage}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"shapenas search: error: {message.format(path=path)}"]
    assert not storage.exists() and not (tmp_path / "runs" / "shapenas" / "tiny").exists()


def test_a_users_checkpoint_is_the_parent_of_every_candidate(tmp_path, tiny_data):
    checkpoint = save_checkpoint(tmp_path / "yolov8n.pt")
    config = warm_config(tmp_path, tiny_data, 2, parent=checkpoint)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    done = cli("search", config, "--storage", storage, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "parent: training" not in done.stderr
    study = load(storage, "tiny")
    parent = study.user_attrs["parent"]
    assert parent["source"] == checkpoint and parent["sha256"] == sha256(checkpoint)
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        records = trial.user_attrs["layer_init"]
        assert len(records) == 23 and {r["how"] for r in records} <= {"copied", "exact", "approximate"}


def test_a_trained_parent_is_made_once_for_two_workers_and_reused_on_resume(tmp_path, tiny_data):
    """Two workers on a journal storage start together, in folders of their own sharing one artifact store: one
    trains the parent, the other waits and uses it; `resume` later trains no parent."""
    config = warm_config(tmp_path, tiny_data, 3)
    storage = f"journal:///{tmp_path / 'study.log'}"
    artifacts = str(tmp_path / "artifacts")
    created = cli("search", config, "--storage", storage, "--artifacts", artifacts, "--create-only", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    folders = [tmp_path / "a", tmp_path / "b"]
    workers = []
    for folder in folders:
        folder.mkdir()
        workers.append(start_worker(storage, "tiny", folder))  # the study remembers where its artifacts are
    try:
        assert wait_for(lambda: all(w.poll() is not None for w in workers), timeout=600)
    finally:
        kill_all(*workers)
    logs = [(folder / "worker.log").read_text() for folder in folders]
    assert [w.returncode for w in workers] == [0, 0], logs
    assert sum("parent: training" in log for log in logs) == 1
    study = load(storage, "tiny")
    assert study.user_attrs["parent"]["source"] == "train"
    companion = optuna.load_study(study_name="tiny:shapenas-parent", storage=open_storage(storage, create=False))
    assert [t.value for t in companion.get_trials() if t.value == 1.0] == [1.0]  # one maker
    resumed = cli("resume", "--storage", storage, "--study", "tiny", "--trials", "4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "parent: training" not in resumed.stderr
    assert len(load(storage, "tiny").get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4
