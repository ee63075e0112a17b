"""Ctrl-C (SIGINT) and SIGTERM become an exception, so a running trial is closed as FAIL instead of left RUNNING.

Python's default SIGTERM kills the process at once: the trial stays RUNNING until its heartbeat goes stale. Raised
as `Interrupted` (a `KeyboardInterrupt`), the signal unwinds like Ctrl-C: Optuna marks the trial FAIL, the objective
stores "interrupted by SIGTERM" as its `fail_reason`, and the CLI exits with 128 + the signal number (130, 143).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.signal_name}")


REDELIVER_S = 0.2


def _in_finalizer(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _raise(signum: int, frame) -> None:
    # Python prints and drops an exception raised in a finalizer ("Exception ignored in ... __del__"), and the process
    # would go on training: a signal that lands in one (Ultralytics' data loader has one) is sent again shortly.
    if _in_finalizer(frame):
        # to the main thread itself: a process-wide kill may go to the timer's thread and leave a sleep uninterrupted
        threading.Timer(REDELIVER_S, signal.pthread_kill, (threading.main_thread().ident, signum)).start()
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted`; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {signum: signal.signal(signum, _raise) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
