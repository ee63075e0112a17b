"""The GPU check's CPU rehearsal (`bench/gpu_check.py --smoke`), so the check cannot rot between GPUs (issue 20).

The smoke run goes through every part on the CPU, a real tiny search in parts c and d included; the steps that need
CUDA are listed as skipped, by name, with their reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def gpu_check(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "bench/gpu_check.py", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--smoke"], "the following arguments are required: --out"),
        (["--out", "OUT", "--data", "no/such/data.yaml"], "--data no/such/data.yaml: no such file"),
        (["--out", "OUT", "--parts", "az"], "--parts 'az': expected letters among abcde"),
        (["--out", "OUT", "--worker-seconds", "0"], "--worker-seconds 0.0: expected a positive number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    done = gpu_check(*[str(tmp_path) if a == "OUT" else a for a in args])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("gpu_check: error: ") and needle in lines[0]


def test_a_moved_dataset_is_read_from_its_own_folder(tmp_path, monkeypatch):
    """A data.yaml carried to another machine keeps the `path` it was made with; the check reads it from its folder."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from gpu_check_search import relocated

    dataset, work = tmp_path / "bccd", tmp_path / "work"
    (dataset / "images").mkdir(parents=True)
    work.mkdir()
    (dataset / "data.yaml").write_text("path: /work/main/datasets/no-such-bccd\ntrain: images\nval: images\n")
    moved = yaml.safe_load(relocated(dataset / "data.yaml", work).read_text())
    assert moved == {"path": str(dataset.resolve()), "train": "images", "val": "images"}
    (dataset / "data.yaml").write_text(f"path: {dataset / 'images'}\ntrain: .\nval: .\n")  # a path that exists stays
    assert yaml.safe_load(relocated(dataset / "data.yaml", work).read_text())["path"] == str(dataset / "images")


@pytest.mark.slow
def test_smoke_run_goes_through_every_part(tmp_path):
    done = gpu_check("--out", tmp_path, "--smoke", "--worker-seconds", 12, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert report["mode"] == "smoke" and list(report["parts"]) == list("abcde")
    for part, result in report["parts"].items():
        assert result["status"] == "ok", (part, result.get("error"))
        assert f"## {part}. {result['title']}: ok" in markdown
        # every part has a CUDA-only step on the CPU, and says which and why
        assert result["skipped"] and all(step["step"] and step["reason"] for step in result["skipped"])
        assert f"- skipped: {result['skipped'][0]['step']}" in markdown
    search = report["parts"]["c"]["figures"]
    assert search["trials_trained"] >= 1 and 0 <= search["loader_share"] <= 1
    assert [row["k"] for row in report["parts"]["d"]["figures"]["rows"]] == [1, 2]
    assert report["parts"]["a"]["figures"]["failed"] == 0 and report["parts"]["a"]["figures"]["passed"] > 0
