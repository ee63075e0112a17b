"""Optuna storages chosen by URL: SQLite by default (embedded), PostgreSQL/MySQL for many machines, journal files.

RDB storages get Optuna's heartbeat, so a trial whose process died is failed and re-queued once its heartbeat is
stale (`RetryHeartbeatStaleTrialCallback`); journal files have no heartbeat, so there `resume` fails them by hand.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.exc import SQLAlchemyError

from shapenas.errors import UserError, first_line
from shapenas.files import RUN_ROOT as DEFAULT_RUN_ROOT
from shapenas.search.claim_attrs import COMPANION_SUFFIXES

JOURNAL_PREFIX = "journal:///"
RDB_PREFIXES = ("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://", "mysql")


def default_storage_url(run_root: Path = DEFAULT_RUN_ROOT) -> str:
    return f"sqlite:///{run_root / 'shapenas.db'}"


def _sqlite_folder_exists(url: str) -> None:
    path = Path(url[len("sqlite:///") :])
    if str(path) != ":memory:" and not path.parent.is_dir():
        raise UserError(f"--storage {url!r}: folder {str(path.parent)!r} does not exist")


def open_storage(url: str | None, heartbeat_seconds: int = 30, create: bool = True) -> optuna.storages.BaseStorage:
    """The storage `url` names; `UserError` naming the URL when it is malformed or unreachable."""
    if url is None:
        DEFAULT_RUN_ROOT.mkdir(parents=True, exist_ok=True)
        url = default_storage_url()
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
        if not create and not path.exists():
            raise UserError(f"--storage {url!r}: no journal file at {str(path)!r}")
        return JournalStorage(JournalFileBackend(str(path)))
    if not url.startswith(RDB_PREFIXES):
        raise UserError(f"--storage {url!r}: expected sqlite:///FILE, postgresql://..., or {JOURNAL_PREFIX}FILE")
    if url.startswith("sqlite:///"):
        _sqlite_folder_exists(url)
    try:
        return RDBStorage(
            url,
            heartbeat_interval=heartbeat_seconds,
            grace_period=2 * heartbeat_seconds,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
        )
    except (SQLAlchemyError, ImportError, RuntimeError) as error:  # bad URL, no server, no driver, old schema
        raise UserError(f"--storage {url!r}: cannot open ({first_line(error)})") from None


def existing_study_names(storage) -> list[str]:
    """The searches in the storage (the companion studies that hold claims are not searches)."""
    names = optuna.get_all_study_names(storage)
    return [name for name in names if not name.endswith(COMPANION_SUFFIXES)]
