"""`bench/scale.py --smoke` runs end to end: 2 real workers (instant proxy and cost stand-ins) on a throwaway
PostgreSQL (a journal file where none is installed), a study grown to 50 trials, `shapenas pareto` timed against
Optuna alone; and once on a journal file. About 20 s each on 2 quiet cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("storage", [[], ["--journal"]], ids=["postgres-when-installed", "journal"])
def test_the_scale_benchmark_smoke_run_prints_every_figure(storage):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "YOLO_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--smoke", *storage],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "== 50 finished trials" in out
    for figure in ("bookkeeping per trial", "round trips per trial", "peak RSS per worker", "pareto / optuna"):
        assert figure in out, out
    assert "stored attributes per trial: user" in out
