"""`signals_raise`: a signal becomes `Interrupted`, also when it lands inside a finalizer (issue 20's part d found
a worker that went on training after SIGTERM: the exception was raised in Ultralytics' data loader `__del__`, where
Python prints and drops it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from shapenas.interrupts import Interrupted, signals_raise

# Run in a fresh interpreter: in process, this case failed inside the full suite (never raised) and passed alone; the
# cause, something an earlier test leaves in the process, was not found. A fresh process is also how workers run.
FINALIZER_SCRIPT = """
import gc, os, signal, sys, time
from shapenas.interrupts import Interrupted, signals_raise

class SignalledWhileFinalized:
    def __del__(self):  # sends SIGTERM to this process from a finalizer, so the handler runs inside __del__
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # the handler runs between these bytecodes, in this frame
            pass

started = time.monotonic()
try:
    with signals_raise():
        SignalledWhileFinalized()  # no reference kept: finalized at once
        gc.collect()
        for _ in range(50):  # work goes on, as training would; without the second delivery nothing is raised
            time.sleep(0.1)
except Interrupted:
    print(f"raised after {time.monotonic() - started:.1f} s")
"""


def test_sigterm_raises_interrupted():
    with pytest.raises(Interrupted) as caught, signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert caught.value.exit_code == 143 and str(caught.value) == "interrupted by SIGTERM"


def test_a_signal_that_lands_in_a_finalizer_is_delivered_again():
    done = subprocess.run([sys.executable, "-c", FINALIZER_SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("raised after "), (done.stdout, done.stderr)
    assert float(done.stdout.split()[2]) < 4
    assert "Exception ignored" not in done.stderr
