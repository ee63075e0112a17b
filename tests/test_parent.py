"""The parent of a warm-started search (`proxy.init: parent`) through the real CLI: a checkpoint that is not the
base's is refused before anything is written; a user's checkpoint is used as is; a `train` parent is trained once
per study, whichever processes ask for it at the same time, and reused on resume. Making it goes through the
retrying storage (a locked SQLite file is waited out), and a maker that was killed is replaced once its heartbeat is
silent (`shapenas.search.fleet.claims`)."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys

import optuna
import pytest
import torch
import yaml

from shapenas.config import load_config
from shapenas.search.fleet.claim_attrs import parent_companion
from shapenas.search.fleet.storage import open_storage
from shapenas.search.loop.context import StudyContext
from shapenas.search.loop.parent import PARENT_ATTR, ParentRecord, ensure_parent
from shapenas.search.loop.study import create_or_continue
from shapenas.search.results import artifacts
from shapenas.ultralytics.build import build_model, load_model_yaml
from tests.helpers import SQLITE_BUSY_SECONDS, ExclusiveLock
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
    trains the parent, the other waits and uses it; the same for the proxy's noise runs (one extra seed of the
    baseline); `resume` later trains neither."""
    config = warm_config(tmp_path, tiny_data, 3, noise_seeds=1)
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
    assert sum("noise: training the baseline's proxy with seed 1" in log for log in logs) == 1
    # the maker says how the parent's training goes, one line per epoch with the elapsed time (1 epoch here)
    assert sum(bool(re.search(r"^\[ *\d+s\] parent: epoch 1/1 mAP50-95 \d", log, re.M)) for log in logs) == 1
    study = load(storage, "tiny")
    assert study.user_attrs["parent"]["source"] == "train"
    noise = study.user_attrs["proxy_noise"]
    assert noise["base_seed"] == 0 and list(noise["seeds"]) == ["1"] and 0 <= noise["seeds"]["1"]["map50_95"] <= 1
    companion = optuna.load_study(study_name="tiny:shapenas-parent", storage=open_storage(storage, create=False))
    for job in ("parent", "noise"):  # one maker of each
        assert [t.value for t in companion.get_trials() if t.user_attrs.get("job") == job and t.value == 1.0] == [1.0]
    resumed = cli("resume", "--storage", storage, "--study", "tiny", "--trials", "4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "parent: training" not in resumed.stderr and "noise: training" not in resumed.stderr
    assert load(storage, "tiny").user_attrs["proxy_noise"] == noise
    assert len(load(storage, "tiny").get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4


def _warm_study(tmp_path, tiny_data, **open_args):
    """(study, storage, config, SQLite path) of a new study whose parent is a user's checkpoint (nothing to train)."""
    checkpoint = save_checkpoint(tmp_path / "yolov8n.pt")
    config = load_config(warm_config(tmp_path, tiny_data, 1, parent=checkpoint))
    path = tmp_path / "study.db"
    storage = open_storage(f"sqlite:///{path}", **open_args)
    study, _ = create_or_continue(config, storage, "tiny")
    return study, storage, config, path


def test_a_parent_record_reads_what_a_study_made_before_the_typed_record_holds():
    stored = {"source": "train", "epochs": 2, "map50_95": 0.3, "seconds": 5.0, "artifact_id": "a", "name": "b.pt"}
    record = ParentRecord.from_attr({**stored, "sha256": "ab"})
    assert record.stored_file() == {"artifact_id": "a", "name": "b.pt", "sha256": "ab"}
    assert record.epoch_map50_95 is None
    assert record.to_attr() == {**stored, "sha256": "ab"}


def _ensure_parent(study, storage, config, tmp_path, tiny_data, heartbeat_seconds=30):
    store = artifacts.open_artifact_store(str(tmp_path / "artifacts"))
    context = StudyContext(study, storage, config, str(tiny_data), tmp_path / "run", store, None, heartbeat_seconds)
    return ensure_parent(context)


def test_the_parent_is_made_through_the_retrying_storage(tmp_path, tiny_data, capsys):
    study, storage, config, path = _warm_study(tmp_path, tiny_data, retry_seconds=60)
    lock = ExclusiveLock(path, SQLITE_BUSY_SECONDS + 2)  # longer than sqlite3 waits by itself
    try:
        fetched = _ensure_parent(study, storage, config, tmp_path, tiny_data)
    finally:
        lock.release()
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("storage unreachable (database is locked)") for line in err), err
    assert any(line.startswith("storage back after") for line in err), err
    record = load(f"sqlite:///{path}", "tiny").user_attrs[PARENT_ATTR]
    assert record["source"] == config.proxy.parent and record["sha256"] == sha256(fetched) == sha256(
        config.proxy.parent
    )


HOLD_THE_CLAIM = """
import sys, time
from shapenas.search.fleet.claims import Claims
from shapenas.search.fleet.storage import open_storage

def work():
    print("holding", flush=True)
    time.sleep(600)

Claims(open_storage(sys.argv[1], create=False), sys.argv[2], heartbeat_seconds=1).once("parent", work)
"""


def test_a_killed_maker_is_replaced_once_its_heartbeat_is_stale(tmp_path, tiny_data):
    """A process holding the maker's claim is SIGKILLed; the next process, on the retrying storage, waits for the
    claim's heartbeat to go silent (2 beats of 1 s), fails it, and makes the parent itself."""
    study, storage, config, path = _warm_study(tmp_path, tiny_data)
    url = f"sqlite:///{path}"
    maker = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_CLAIM, url, parent_companion("tiny")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # alone in its group, as kill_all expects
    )
    try:
        assert maker.stdout.readline().strip() == "holding"
        maker.send_signal(signal.SIGKILL)
        maker.wait(timeout=30)
    finally:
        kill_all(maker)
    _ensure_parent(study, storage, config, tmp_path, tiny_data, heartbeat_seconds=1)
    assert load(url, "tiny").user_attrs[PARENT_ATTR]["source"] == config.proxy.parent
    companion = load(url, parent_companion("tiny")).trials
    assert companion[0].state == optuna.trial.TrialState.FAIL  # the killed maker, failed for its stale heartbeat
    assert [t.value for t in companion if t.state == optuna.trial.TrialState.COMPLETE] == [1.0]  # the new maker
    assert not [t for t in companion if t.state == optuna.trial.TrialState.RUNNING]
