"""Trial files through Optuna's artifact store: a search keeps each trial's weights and YAML there (listed on the trial,
as optuna-dashboard shows them); `export --weights` and `train --study` then work from another working folder given
only the storage URL and the artifact location, after the folder that trained them is gone; a wrong location gets one
line and writes nothing; a YAML read back from the storage that would run code is refused."""

from __future__ import annotations

import hashlib
import shutil

import optuna
import pytest
import yaml
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

from shapenas.errors import UserError
from shapenas.search.fleet.storage import open_storage
from shapenas.search.results.trial_files import model_yaml_of
from tests.worker_helpers import cli, load, write_tiny_config

STUDY = "tiny"


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory, tiny_data):
    """A 2-trial study searched in folder `a`; then its run folder is deleted and its artifact folder moved, as if
    mounted elsewhere on another machine; an empty folder `b` to work from."""
    root = tmp_path_factory.mktemp("trial_files")
    a, b = root / "a", root / "b"
    a.mkdir(), b.mkdir()
    storage, shared = f"journal:///{root / 'study.log'}", root / "shared"
    done = cli("search", write_tiny_config(a, tiny_data, 2), "--storage", storage, "--artifacts", shared, cwd=a)
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.rmtree(a / "runs")  # the worker's own copies are gone: only the artifact store has the files
    shutil.move(shared, root / "mounted")
    return {"storage": storage, "shared": root / "mounted", "b": b}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_each_trial_lists_its_weights_and_yaml_as_artifacts(elsewhere):
    study, storage = load(elsewhere["storage"], STUDY), open_storage(elsewhere["storage"], create=False)
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        records = trial.user_attrs["artifacts"]
        assert set(records) == {"weights", "yaml"}
        listed = {meta.artifact_id: meta.filename for meta in get_all_artifact_meta(trial, storage=storage)}
        assert listed == {records["weights"]["artifact_id"]: "best.pt", records["yaml"]["artifact_id"]: "yolov8n.yaml"}


@pytest.mark.slow
def test_export_weights_from_another_folder_with_the_storage_and_the_artifact_location(elsewhere):
    storage, shared, b = elsewhere["storage"], elsewhere["shared"], elsewhere["b"]
    args = ["export", "--storage", storage, "--study", STUDY, "--trial", "1", "-o", "best.yaml", "--weights", "best.pt"]
    lost = cli(*args, cwd=b)  # the location the study remembers holds nothing here
    assert lost.returncode == 2 and len(lost.stderr.strip().splitlines()) == 1, lost.stderr
    assert "trial 1: cannot get its weights: the artifact store has no good copy" in lost.stderr
    assert not (b / "best.yaml").exists() and not (b / "best.pt").exists()

    done = cli(*args, "--artifacts", shared, cwd=b)
    assert done.returncode == 0, done.stderr[-3000:]
    trial = load(storage, STUDY).trials[1]
    assert sha256(b / "best.pt") == trial.user_attrs["artifacts"]["weights"]["sha256"]
    assert "trial 1" in (b / "best.yaml").read_text().splitlines()[0]


@pytest.mark.slow
def test_train_a_stored_trial_from_another_folder(elsewhere, tiny_data):
    storage, b = elsewhere["storage"], elsewhere["b"]
    args = ["train", "--storage", storage, "--study", STUDY, "--trial", "1", "epochs=1", "imgsz=32", "batch=8"]
    done = cli(*args, "device=cpu", "workers=0", "plots=False", f"project={b / 'full'}", "name=t", cwd=b, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (b / "full" / "t" / "weights" / "best.pt").is_file()  # data= defaulted to the study's dataset
    written = b / "runs" / "shapenas" / STUDY / "train" / "trial_0001" / "yolov8n.yaml"
    assert model_yaml_of(load(storage, STUDY).trials[1]) == yaml.safe_load(written.read_text())


def test_a_stored_yaml_that_would_run_code_is_refused():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = "backbone: [[-1, 1, Conv, [16, 3, 2]]]\nhead: [[-1, 1, nn.Upsample, [None, 2, nearest]]]\n"
    cases = {
        "activation: __import__('os').system('touch marker')\n": "activation: expected nn.<Activation>(...)",
        "": None,
        "activation: nn.SiLU()\n": None,
    }
    for extra, message in cases.items():
        trial = optuna.trial.create_trial(values=[0.1, 1.0], user_attrs={"yaml": extra + rows})
        if message is None:
            assert model_yaml_of(trial)["backbone"] == [[-1, 1, "Conv", [16, 3, 2]]]
        else:
            with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
                model_yaml_of(trial)
    calling = optuna.trial.create_trial(
        values=[0.1, 1.0], user_attrs={"yaml": "backbone: [[-1, 1, check_requirements, [x]]]\nhead: []\n"}
    )
    with pytest.raises(UserError, match="stored yaml: Ultralytics cannot build layer 0 'check_requirements'"):
        model_yaml_of(calling)


def test_weights_of_old_studies_and_of_twins_come_from_the_workers_path(tmp_path):
    """A trial from before the artifact store (only a local `weights` path), or a twin of one (`artifacts` None)."""
    from shapenas.search.results.artifacts import open_artifact_store
    from shapenas.search.results.trial_files import fetch_weights, has_weights

    store = open_artifact_store(str(tmp_path / "store"))
    (tmp_path / "best.pt").write_bytes(b"weights")
    old = optuna.trial.create_trial(values=[0.1, 1.0], user_attrs={"weights": str(tmp_path / "best.pt")})
    twin = optuna.trial.create_trial(values=[0.1, 1.0], user_attrs={"weights": None, "artifacts": None})
    assert has_weights(old) and not has_weights(twin)
    assert fetch_weights(store, old, tmp_path / "out" / "w.pt").read_bytes() == b"weights"
    with pytest.raises(UserError, match="cannot get its weights: it kept none"):
        fetch_weights(store, twin, tmp_path / "w2.pt")
    gone = optuna.trial.create_trial(values=[0.1, 1.0], user_attrs={"weights": str(tmp_path / "elsewhere.pt")})
    with pytest.raises(UserError, match="only on the machine that trained it"):
        fetch_weights(store, gone, tmp_path / "w3.pt")
