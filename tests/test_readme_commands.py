"""README drift: the commands README.md shows run as written, on a fresh folder, with tiny settings
(`tests/readme_commands.py` says how they are found, which are made tiny and which are skipped, and why)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.readme_commands import ROOT, readme_commands, skip_reason, tiny


def test_every_readme_command_is_run_or_skipped_with_a_reason():
    commands = readme_commands()
    assert commands[0].startswith("shapenas data synth datasets/synth")  # scripts/quickstart.sh, step by step
    skipped = {command: skip_reason(command) for command in commands if skip_reason(command)}
    unrunnable = {c for c in commands if c.startswith(("bash scripts/test.sh", "pip ", "URL=", "python bench/"))}
    unrunnable |= {c for c in commands if "$URL" in c or "--study bccd" in c or "datasets/BCCD" in c}
    assert set(skipped) == unrunnable
    run = [command for command in commands if command not in skipped]
    for verb in ("search", "pareto", "export", "resume", "verify", "train"):
        assert any(command.startswith(f"shapenas {verb} ") for command in run), verb


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")  # the config's data is ../datasets/synth, as in a clone
    for command in readme_commands():
        if skip_reason(command):
            continue
        argv = tiny(command, tmp_path)
        done = subprocess.run(
            [sys.executable, "-m", "shapenas.cli", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=900
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in output, (command, argv, output[-3000:])
