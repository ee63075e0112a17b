"""`shapenas verify` through the real CLI on a small searched study (journal storage, real training at 32 px): the
`verified` summaries and the table, a second run that trains nothing, a second budget kept beside the first, a run
killed with SIGKILL mid-training and run again, and two processes at once training each job once."""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.fleet.storage import open_storage
from shapenas.search.results import artifacts
from tests.worker_helpers import CLI, cli, load, wait_for, write_tiny_config

pytestmark = pytest.mark.slow

STUDY = "tiny"
COMPANION = f"{STUDY}:shapenas-verify"
DONE = re.compile(r"(\d+) of (\d+) trainings ran in this process")


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_data):
    """A finished 3-trial study (baseline and two DySample candidates) in a journal file, with its artifact folder."""
    folder = tmp_path_factory.mktemp("verify_study")
    config = write_tiny_config(folder, tiny_data, trials=3)
    storage = f"journal:///{folder / 'study.log'}"
    done = cli("search", config, "--storage", storage, "--artifacts", folder / "artifacts", cwd=folder, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.fixture
def study_copy(searched, tmp_path):
    """A copy of the searched study to change: (storage URL, working folder)."""
    shutil.copy(searched / "study.log", tmp_path / "study.log")
    if (searched / "artifacts").exists():  # the trials' own files, when the search kept any there
        shutil.copytree(searched / "artifacts", tmp_path / "artifacts")
    return f"journal:///{tmp_path / 'study.log'}", tmp_path


def verify(storage, folder, *args, timeout=900) -> subprocess.CompletedProcess:
    common = ["--storage", storage, "--study", STUDY, "--artifacts", folder / "artifacts", "--heartbeat", "1"]
    return cli("verify", *common, *args, cwd=folder, timeout=timeout)


def claims(storage) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=COMPANION, storage=open_storage(storage, create=False)).trials


def workers_of_each_job(storage) -> dict[str, int]:
    """How many claims did each job's work (completed with value 1)."""
    counts: dict[str, int] = {}
    for claim in claims(storage):
        if claim.state == TrialState.COMPLETE and claim.value == 1.0:
            counts[claim.user_attrs["job"]] = counts.get(claim.user_attrs["job"], 0) + 1
    return counts


def test_verify_stores_each_trials_seeds_prints_the_table_and_a_second_run_trains_nothing(study_copy):
    storage, folder = study_copy
    first = verify(storage, folder, "--trials", "1,2", "--epochs", "2", "--seeds", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert DONE.search(first.stdout).groups() == ("6", "6")
    study = load(storage, STUDY)
    (budget,) = study.user_attrs["verified:1"]
    store = artifacts.open_artifact_store(str(folder / "artifacts"))
    for number in (0, 1, 2):  # the baseline is always verified
        entry = study.user_attrs[f"verified:{number}"][budget]
        assert (entry["epochs"], entry["imgsz"], entry["proxy"]["epochs"]) == (2, 32, 2)
        seeds = entry["seeds"]
        assert sorted(seeds) == ["0", "1"] and all(len(s["epoch_map50_95"]) == 2 for s in seeds.values())
        maps = [seeds[s]["map50_95"] for s in ("0", "1")]
        assert entry["map50_95"] == pytest.approx(statistics.fmean(maps), abs=1e-6)
        assert entry["map50_95_range"] == pytest.approx(max(maps) - min(maps), abs=1e-6)
        fetched = artifacts.fetch(store, seeds["0"]["weights"], folder / f"check_{number}.pt")
        assert fetched.stat().st_size > 0
    rows = [line.split()[0] for line in first.stdout.splitlines() if re.match(r"^\s+\d+\s+\d\.\d{4}\s", line)]
    assert rows == ["0", "1", "2"]
    assert "--seeds 2: the paired test needs 3 seeds, so every comparison with the baseline will be inconclusive" in (
        first.stderr
    )
    assert "paired by seed, 95% t interval over the seeds both trained (n = 2)" in first.stdout
    assert first.stdout.count("inconclusive (2 seeds)") == 2 and "score: best epoch" in first.stdout
    assert "Kendall tau between proxy and verified mAP50-95 over 3 verified trials" in first.stdout
    assert re.search(r"\d+ verified members? of the proxy's front", first.stdout)
    made = len(claims(storage))

    again = verify(storage, folder, "--trials", "1,2", "--epochs", "2", "--seeds", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert DONE.search(again.stdout).groups() == ("0", "6") and "epoch 1" not in again.stderr
    assert len(claims(storage)) == made  # a job with a result takes no claim
    assert load(storage, STUDY).user_attrs == study.user_attrs

    other = verify(storage, folder, "--trials", "1", "--epochs", "1", "--seeds", "1", "--set", "proxy.imgsz=64")
    assert other.returncode == 0, other.stderr[-3000:]
    kept = load(storage, STUDY).user_attrs["verified:1"]
    assert len(kept) == 2 and kept[budget] == study.user_attrs["verified:1"][budget]  # both budgets kept
    assert {(e["epochs"], e["imgsz"]) for e in kept.values()} == {(2, 32), (1, 64)}


def _training_started(folder) -> bool:
    return any((folder / "runs" / "shapenas" / STUDY / "verify").glob("*/trial_*/train"))


def test_a_verify_killed_mid_training_resumes_and_trains_each_job_once(study_copy):
    storage, folder = study_copy
    args = ["verify", "--storage", storage, "--study", STUDY, "--artifacts", str(folder / "artifacts")]
    args += ["--heartbeat", "1", "--trials", "1", "--epochs", "8", "--seeds", "1"]
    log = open(folder / "killed.log", "w")
    process = subprocess.Popen([*CLI, *args], cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: _training_started(folder), timeout=300), (folder / "killed.log").read_text()[-3000:]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    (killed,) = [c for c in claims(storage) if c.state == TrialState.RUNNING]

    done = verify(storage, folder, "--trials", "1", "--epochs", "8", "--seeds", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert DONE.search(done.stdout).groups() == ("2", "2")
    after = {c.number: c for c in claims(storage)}
    assert after[killed.number].state == TrialState.FAIL  # found dead by its silent heartbeat, then taken over
    assert sorted(workers_of_each_job(storage).values()) == [1, 1]
    assert all(len(e) == 1 for n, e in load(storage, STUDY).user_attrs.items() if n.startswith("verified:"))


def test_two_processes_on_one_journal_storage_train_each_job_once(study_copy):
    storage, folder = study_copy
    args = ["verify", "--storage", storage, "--study", STUDY, "--artifacts", str(folder / "artifacts")]
    args += ["--heartbeat", "1", "--trials", "1,2", "--epochs", "1", "--seeds", "2"]
    processes = [
        subprocess.Popen([*CLI, *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    trained = [int(DONE.search(out).group(1)) for out, _ in outputs]
    assert sum(trained) == 6
    assert sorted(workers_of_each_job(storage).values()) == [1] * 6
    study = load(storage, STUDY)
    for number in (0, 1, 2):  # each summary holds both seeds, whichever process wrote it last
        (entry,) = study.user_attrs[f"verified:{number}"].values()
        assert sorted(entry["seeds"]) == ["0", "1"]
