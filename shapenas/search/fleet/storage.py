"""Optuna storages chosen by URL: SQLite by default (embedded), PostgreSQL/MySQL for many machines, journal files.

Every storage comes wrapped in a `RetryingStorage`, which waits out outages and says how it was configured (its URL,
and how often the leases of the trials run on it beat: `shapenas.search.fleet.lease`, the same on every storage).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.exc import SQLAlchemyError

from shapenas.errors import UserError, first_line
from shapenas.files import RUN_ROOT as DEFAULT_RUN_ROOT
from shapenas.search.fleet.claim_attrs import COMPANION_SUFFIXES
from shapenas.search.fleet.lease import HEARTBEAT_SECONDS
from shapenas.search.fleet.outage import DEFAULT_RETRY_SECONDS, Outage
from shapenas.search.fleet.retrying import RetryingStorage

JOURNAL_PREFIX = "journal:///"
RDB_PREFIXES = ("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://", "mysql")
# libpq settings so that a server that vanished without a word (a partition, a dead host) fails a call within a
# minute instead of hanging in TCP for many: give up connecting after 10 s, and on an open connection after 60 s of
# unacknowledged data or 3 lost keepalives. A URL that sets any of these keeps its own value.
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 10,
    "tcp_user_timeout": 60_000,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def default_storage_url(run_root: Path = DEFAULT_RUN_ROOT) -> str:
    return f"sqlite:///{run_root / 'shapenas.db'}"


def _sqlite_folder_exists(url: str) -> None:
    path = Path(url[len("sqlite:///") :])
    if str(path) != ":memory:" and not path.parent.is_dir():
        raise UserError(f"--storage {url!r}: folder {str(path.parent)!r} does not exist")


def _journal(url: str, create: bool) -> JournalStorage:
    """The journal file `url` names; `UserError` when it cannot be there. Like `sqlite:///`, three slashes give a
    path relative to the current folder and four an absolute one: the error says so for a relative path."""
    path = Path(url[len(JOURNAL_PREFIX) :])
    hint = "" if path.is_absolute() else f" (a relative path; for /{path} use four slashes: {JOURNAL_PREFIX}/{path})"
    if not create and not path.exists():
        raise UserError(f"--storage {url!r}: no journal file at {str(path)!r}{hint}")
    if not path.parent.is_dir():
        raise UserError(f"--storage {url!r}: folder {str(path.parent)!r} does not exist{hint}")
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as error:  # a folder we cannot write to, a path that is a folder
        raise UserError(f"--storage {url!r}: cannot open ({first_line(error)})") from None


def _engine_kwargs(url: str) -> dict | None:
    if url.startswith("sqlite"):
        return None
    kwargs: dict = {"pool_pre_ping": True}  # a connection the server dropped is replaced, not used
    if url.startswith("postgresql"):
        query = parse_qs(urlsplit(url).query)
        kwargs["connect_args"] = {key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in query}
    return kwargs


def open_storage(
    url: str | None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    create: bool = True,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
) -> RetryingStorage:
    """The storage `url` names; `UserError` naming the URL when it is malformed or unreachable now.

    Once open, a storage that stops answering is waited for, up to `retry_seconds` per call (`RetryingStorage`).
    """
    if url is None:
        DEFAULT_RUN_ROOT.mkdir(parents=True, exist_ok=True)
        url = default_storage_url()
    outage = Outage(retry_seconds)
    if url.startswith(JOURNAL_PREFIX):
        return RetryingStorage(_journal(url, create), url, heartbeat_seconds, outage)
    if not url.startswith(RDB_PREFIXES):
        raise UserError(f"--storage {url!r}: expected sqlite:///FILE, postgresql://..., or {JOURNAL_PREFIX}FILE")
    if url.startswith("sqlite:///"):
        _sqlite_folder_exists(url)
    try:
        backend = RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except (SQLAlchemyError, ImportError, RuntimeError) as error:  # bad URL, no server, no driver, old schema
        raise UserError(f"--storage {url!r}: cannot open ({first_line(error)})") from None
    # Optuna's own cache in front, as `create_study` would put it: finished trials are read once, then kept.
    return RetryingStorage(optuna.storages.get_storage(backend), url, heartbeat_seconds, outage)


def in_memory_storage(retry_seconds: float = DEFAULT_RETRY_SECONDS) -> RetryingStorage:
    """A throwaway study storage (benchmarks, tests): one process, nothing to wait for."""
    return RetryingStorage(optuna.storages.InMemoryStorage(), "memory", HEARTBEAT_SECONDS, Outage(retry_seconds))


def existing_study_names(storage) -> list[str]:
    """The searches in the storage (the companion studies that hold claims are not searches)."""
    names = optuna.get_all_study_names(storage)
    return [name for name in names if not name.endswith(COMPANION_SUFFIXES)]
