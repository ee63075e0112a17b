"""`search --create-only` ends with the command that runs the study's trials on that very storage (a worker on a
journal file or PostgreSQL; `resume` on SQLite, which workers refuse), and that command runs as printed. Journal URLs
read like SQLite's: three slashes a relative path, four an absolute one."""

from __future__ import annotations

import shlex

import pytest
from optuna.trial import TrialState

from shapenas.cli import main
from tests.worker_helpers import load, write_tiny_config


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["sqlite", "journal-absolute", "journal-relative"])
def test_create_only_suggests_a_command_that_runs(tmp_path, tiny_data, capsys, monkeypatch, scheme):
    monkeypatch.chdir(tmp_path)
    config = write_tiny_config(tmp_path, tiny_data, trials=1)
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'a.db'}",
        "journal-absolute": f"journal:///{tmp_path / 'a.log'}",  # journal:////tmp/...: four slashes
        "journal-relative": "journal:///a.log",
    }[scheme]
    assert main(["search", str(config), "--storage", url, "--study", "s", "--create-only"]) == 0
    printed = capsys.readouterr().out.strip()
    suggested = shlex.split(printed.split("run its trials with: ", 1)[1].split(" (", 1)[0])
    assert suggested[:2] == ["shapenas", "resume" if scheme == "sqlite" else "worker"], printed
    assert suggested[2:] == ["--study", "s", "--storage", url], printed
    assert main(suggested[1:]) == 0
    assert len(load(url, "s").get_trials(states=(TrialState.COMPLETE,))) == 1
