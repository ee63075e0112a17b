"""A trial's end that could not be written during an outage (search.fleet.pending, search.fleet.orphans), on
real SQLite studies and real files: the next process writes it once, never over another process's FAIL, keeps a
result whose trial was failed for the candidate's retry, and never uploads one file twice."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.fleet import orphans
from shapenas.search.fleet.pending import (
    ALREADY_FINISHED,
    KEPT_FOR_RETRY,
    WRITTEN,
    TrialEnd,
    deliver,
    save,
    upload_pending,
)
from shapenas.search.fleet.storage import open_storage

X = {"x": optuna.distributions.IntDistribution(0, 9)}


@pytest.fixture
def url(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=open_storage(url), study_name="s", directions=["maximize", "minimize"])
    return url


def _process(url):
    """(study, storage) as a separate process would open them."""
    storage = open_storage(url, heartbeat_seconds=60, create=False)
    return optuna.load_study(study_name="s", storage=storage), storage


def _trained(study, key="k"):
    """A running trial of candidate `key` whose training finished: (trial, its end not yet written)."""
    trial = study.ask(X)
    trial.set_user_attr("key", key)
    end = TrialEnd.of("s", trial, TrialState.COMPLETE, [0.4, 1.5], [["user", "map50_95", 0.4]])
    return trial, end


def test_a_saved_result_is_written_by_the_next_process_once(url, tmp_path, capsys):
    study, _ = _process(url)
    trial, end = _trained(study)
    path = save(end, tmp_path / "pending")
    assert path.parent == tmp_path / "pending" and path.name.startswith(f"trial_{trial.number:04d}_")

    upload_pending(*_process(url), tmp_path / "pending")
    stored = study.trials[trial.number]
    assert stored.state == TrialState.COMPLETE and stored.values == [0.4, 1.5]
    assert stored.user_attrs == {"key": "k", "map50_95": 0.4}
    assert list((tmp_path / "pending").iterdir()) == []
    assert "pending result of trial 0 (COMPLETE): written" in capsys.readouterr().err

    save(end, tmp_path / "pending")  # the same end again: nothing is written twice
    upload_pending(*_process(url), tmp_path / "pending")
    assert study.trials[trial.number] == stored and len(study.trials) == 1
    assert ALREADY_FINISHED in capsys.readouterr().err


def test_another_process_fail_stays_and_the_result_is_kept_for_the_retry(url):
    study, storage = _process(url)
    trial, end = _trained(study)
    study.tell(trial.number, state=TrialState.FAIL)  # another process found its heartbeat stale
    assert deliver(study, storage, end) == KEPT_FOR_RETRY
    stored = study.trials[trial.number]
    assert stored.state == TrialState.FAIL and "map50_95" not in stored.user_attrs

    twin = orphans.find(_process(url)[0], "k")  # what the twin reuse of any later trial of "k" finds
    assert (twin.number, twin.values, twin.user_attrs["map50_95"]) == (trial.number, [0.4, 1.5], 0.4)
    assert orphans.find(study, "another candidate") is None


def test_a_rejected_candidate_is_not_kept(url):
    study, storage = _process(url)
    trial = study.ask(X)
    trial.set_user_attr("key", "k")
    trial.set_user_attr("rejected", "gflops 9 > max_gflops 5")
    end = TrialEnd.of("s", trial, TrialState.COMPLETE, [0.0, 9.0])
    study.tell(trial.number, state=TrialState.FAIL)
    assert deliver(study, storage, end) == ALREADY_FINISHED and orphans.find(study, "k") is None


def test_a_trial_given_up_without_a_result_is_failed_and_queued_again(url, tmp_path):
    study, storage = _process(url)
    trial = study.ask(X)
    reason = ["user", "fail_reason", "given up: storage unreachable for 300 s (Connection refused)"]
    end = TrialEnd.of("s", trial, TrialState.FAIL, None, [reason], requeue=True)
    assert deliver(study, storage, end) == WRITTEN
    stored = study.trials[trial.number]
    assert stored.state == TrialState.FAIL and stored.user_attrs["fail_reason"] == reason[2]
    assert study.ask(X).params == trial.params  # its candidate comes up again


def test_a_file_another_live_process_is_uploading_is_left_to_it(url, tmp_path):
    study, _ = _process(url)
    folder = tmp_path / "pending"
    ends = [_trained(study, key)[1] for key in ("a", "b")]
    paths = [save(end, folder) for end in ends]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(paths[0], f"{paths[0]}.claimed-{os.getppid()}")  # a live process is uploading it
    os.rename(paths[1], f"{paths[1]}.claimed-{int(dead.stdout)}")  # its uploader died: taken over

    upload_pending(*_process(url), folder)
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.COMPLETE]
    assert [p.name for p in folder.iterdir()] == [f"{paths[0].name}.claimed-{os.getppid()}"]


def test_a_file_of_a_same_named_study_in_another_storage_is_left_alone(url, tmp_path, capsys):
    study, _ = _process(url)
    _, end = _trained(study)
    path = save(end, tmp_path / "pending")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    elsewhere = optuna.create_study(storage=open_storage(other), study_name="s", directions=["maximize", "minimize"])
    elsewhere.ask(X)  # trial 0 too, but another trial

    upload_pending(elsewhere, open_storage(other), tmp_path / "pending")
    assert path.exists() and elsewhere.trials[0].state == TrialState.RUNNING
    assert f"pending result {path.name} left alone: trial 0 of study 's' in this storage is another trial" in (
        capsys.readouterr().err
    )
