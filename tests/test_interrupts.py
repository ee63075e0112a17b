"""`signals_raise`: a signal becomes `Interrupted`, also when it lands inside a finalizer (issue 20's part d found
a worker that went on training after SIGTERM: the exception was raised in Ultralytics' data loader `__del__`, where
Python prints and drops it)."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from shapenas.interrupts import Interrupted, signals_raise


class SignalledWhileFinalized:
    """Sends SIGTERM to this process from its finalizer, so the handler runs inside `__del__`."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # the handler runs between these bytecodes, in this frame
            pass


def test_sigterm_raises_interrupted():
    with pytest.raises(Interrupted) as caught, signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert caught.value.exit_code == 143 and str(caught.value) == "interrupted by SIGTERM"


def test_a_signal_that_lands_in_a_finalizer_is_delivered_again(capsys):
    started = time.monotonic()
    with pytest.raises(Interrupted), signals_raise():
        SignalledWhileFinalized()  # no reference kept: finalized at once
        gc.collect()
        for _ in range(50):  # work goes on, as training would; without the second delivery nothing is raised
            time.sleep(0.1)
    assert time.monotonic() - started < 4
    assert "Exception ignored" not in capsys.readouterr().err
