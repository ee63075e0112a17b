"""A storage that stops answering for a while: which errors mean that, and how a call waits for it to come back.

Transient: the server is down, restarting or unreachable (SQLAlchemy `OperationalError`/`InterfaceError`, psycopg's
connection errors, a connection dropped mid-query), or SQLite's "database is locked". Everything else (a missing
study, a constraint violation, a refused password, a table that does not exist) is a real error, raised at once.

Each call is retried with backoff for up to `retry_seconds` from its first failure; past that it raises
`StorageUnavailable`, which the command line turns into one line and exit code 75 (a temporary failure). One line on
stderr says when the storage stopped answering and one when it is back, however many threads noticed.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
import time
from typing import Callable, Iterator, TypeVar

from shapenas.errors import ShapenasError

T = TypeVar("T")
EXIT_CODE = 75  # EX_TEMPFAIL: try again later
DEFAULT_RETRY_SECONDS = 300  # --storage-retry: long enough for a database restart or a failover
FIRST_DELAY, MAX_DELAY = 0.5, 5.0
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
# What no retry can fix. SQLSTATE classes 28 (invalid authorization) and 3D (no such database); psycopg raises
# connection failures without an SQLSTATE, with the server's words in the message instead.
PERMANENT_SQLSTATE = ("28", "3D")
PERMANENT_WORDS = ("authentication failed", "does not exist", "no pg_hba.conf entry")


class StorageUnavailable(ShapenasError):
    """The storage did not answer within the retry window; what was finished is saved locally (see `pending`)."""

    exit_code = EXIT_CODE

    def __init__(self, message: str):
        super().__init__(message)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then what it wraps: Optuna wraps SQLAlchemy's errors, which wrap the driver's."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or getattr(error, "orig", None)


def _driver_verdict(error: BaseException) -> bool | None:
    """What the database driver's own exception says (None: not a driver exception)."""
    if isinstance(error, sqlite3.Error):
        return isinstance(error, sqlite3.OperationalError) and any(text in str(error).lower() for text in SQLITE_BUSY)
    module = type(error).__module__
    if module.startswith(("psycopg.", "psycopg2.")) or module in ("psycopg", "psycopg2"):
        names = {cls.__name__ for cls in type(error).__mro__}
        if not names & {"OperationalError", "InterfaceError"}:
            return False  # an IntegrityError, a ProgrammingError: a real error
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None) or ""
        return not code.startswith(PERMANENT_SQLSTATE) and not any(word in str(error) for word in PERMANENT_WORDS)
    return None


def is_transient(error: BaseException) -> bool:
    """True when `error` says the storage is away for now, not that the request was wrong."""
    import sqlalchemy.exc  # here, not at the top: `shapenas --help` should not pay for SQLAlchemy

    chain = list(_chain(error))
    for link in chain:
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return True
    for link in chain:
        verdict = _driver_verdict(link)
        if verdict is not None:
            return verdict
    connection_errors = (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.DisconnectionError,
        sqlalchemy.exc.TimeoutError,  # no pooled connection came free
    )
    return any(isinstance(link, connection_errors) for link in chain)


def reason(error: BaseException) -> str:
    """The innermost error's first line, short: what a user can act on ("Connection refused", "database is locked")."""
    innermost = list(_chain(error))[-1]
    lines = [line.strip() for line in str(innermost).splitlines() if line.strip()]
    text = lines[0] if lines else type(innermost).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class Outage:
    """Whether the storage answers; shared by every thread of a process, so each outage is told once."""

    def __init__(self, retry_seconds: float, stream=None):
        self.retry_seconds = retry_seconds
        self.stream = stream
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._back_at: float | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def lost(self, error: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                wait = f"retrying for up to {self.retry_seconds:g} s when needed"
                self._print(f"storage unreachable ({reason(error)}); {wait}")

    def found(self) -> None:
        with self._lock:
            if self._down_since is not None:
                self._back_at = time.monotonic()
                self._print(f"storage back after {self._back_at - self._down_since:.0f} s")
                self._down_since = None

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def calm_for(self, seconds: float) -> bool:
        """The storage answered at the last try and has not been away in the last `seconds`."""
        with self._lock:
            back = self._back_at
            return self._down_since is None and (back is None or time.monotonic() - back >= seconds)

    def call(self, function: Callable[[], T]) -> T:
        """`function()`, retried with backoff while its errors are transient, for up to `retry_seconds`."""
        deadline, delay = None, FIRST_DELAY
        while True:
            try:
                result = function()
            except Exception as error:
                if not is_transient(error):
                    raise
                self.lost(error)
                now = time.monotonic()
                deadline = now + self.retry_seconds if deadline is None else deadline
                if now >= deadline:
                    raise StorageUnavailable(
                        f"storage unreachable for {self.retry_seconds:g} s ({reason(error)})"
                    ) from None
                time.sleep(min(delay * random.uniform(0.75, 1.25), deadline - now))  # jitter: workers spread out
                delay = min(2 * delay, MAX_DELAY)
            else:
                self.found()
                return result
