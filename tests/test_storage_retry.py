"""Storage outages as one process sees them (search.fleet.outage, search.fleet.retrying), on real SQLite files
and real drivers: which errors are transient, a "database is locked" waited out, a storage that stays away past the
retry window, real errors raised at once, and writes to the running trial that never wait for the storage."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time

import optuna
import pytest
import sqlalchemy

from shapenas.search.fleet.outage import Outage, StorageUnavailable, is_transient
from shapenas.search.fleet.retrying import RetryingStorage
from shapenas.search.fleet.storage import open_storage
from tests.helpers import SQLITE_BUSY_SECONDS, ExclusiveLock


@pytest.fixture
def sqlite_study(tmp_path):
    """(database path, URL, study) of a fresh SQLite study named 's'."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    study = optuna.create_study(storage=open_storage(url, retry_seconds=60), study_name="s")
    return path, url, study


def _error_of(action) -> BaseException:
    try:
        action()
    except Exception as error:  # what the driver or library really raises
        return error
    raise AssertionError("expected an error")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _locked_sqlite_error(tmp_path) -> BaseException:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        return _error_of(lambda: sqlite3.connect(path, timeout=0).execute("SELECT 1 FROM sqlite_master").fetchall())
    finally:
        holder.execute("ROLLBACK")


def test_transient_errors_are_told_from_real_ones(tmp_path):
    engine = sqlalchemy.create_engine("sqlite://")
    with engine.connect() as connection:
        no_table = _error_of(lambda: connection.execute(sqlalchemy.text("SELECT * FROM nope")))
    locked = _locked_sqlite_error(tmp_path)
    storage = open_storage(f"sqlite:///{tmp_path / 'real.db'}")
    optuna.create_study(storage=storage, study_name="taken")
    transient = [locked, sqlalchemy.exc.OperationalError("BEGIN", {}, locked)]  # as SQLAlchemy wraps it
    real = [
        no_table,  # sqlalchemy.exc.OperationalError around sqlite3's "no such table": retrying cannot help
        _error_of(lambda: storage.get_study_id_from_name("missing")),  # KeyError
        _error_of(lambda: optuna.create_study(storage=storage, study_name="taken")),  # DuplicatedStudyError
        ValueError("bad value"),
    ]
    assert [is_transient(error) for error in transient] == [True, True], transient
    assert [is_transient(error) for error in real] == [False] * len(real), real


def test_postgres_connection_errors_are_transient_but_a_missing_database_is_not():
    psycopg = pytest.importorskip("psycopg")
    from tests.postgres_server import PostgresServer, why_not_available

    refused = _error_of(lambda: psycopg.connect(f"host=127.0.0.1 port={_closed_port()} user=x connect_timeout=5"))
    assert is_transient(refused), refused
    if why_not_available():
        pytest.skip(f"no PostgreSQL server for the missing-database case: {why_not_available()}")
    server = PostgresServer().start()
    try:
        missing = _error_of(lambda: psycopg.connect(f"host=127.0.0.1 port={server.port} user=shapenas dbname=nope"))
        assert 'database "nope" does not exist' in str(missing) and not is_transient(missing), missing
    finally:
        server.stop()


def test_database_is_locked_is_waited_out(sqlite_study, capsys):
    path, url, study = sqlite_study
    lock = ExclusiveLock(path, SQLITE_BUSY_SECONDS + 2)  # longer than sqlite3 waits by itself
    study.set_user_attr("written", "after the lock")
    lock.release()
    assert optuna.load_study(study_name="s", storage=open_storage(url)).user_attrs["written"] == "after the lock"
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("storage unreachable (database is locked)") for line in lines), lines
    assert any(line.startswith("storage back after") for line in lines), lines


def test_past_the_retry_window_the_call_gives_up(sqlite_study):
    path, url, _ = sqlite_study
    study = optuna.load_study(study_name="s", storage=open_storage(url, retry_seconds=1))
    lock = ExclusiveLock(path, 4 * SQLITE_BUSY_SECONDS)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"^storage unreachable for 1 s \(database is locked\)$"):
        study.set_user_attr("never", "written")
    assert time.monotonic() - started < 4 * SQLITE_BUSY_SECONDS  # gave up while the lock was still held
    lock.release()
    assert "never" not in study.user_attrs


def test_real_errors_are_raised_at_once(sqlite_study, capsys):
    _, url, _ = sqlite_study
    storage = open_storage(url, retry_seconds=60)
    started = time.monotonic()
    with pytest.raises(KeyError):
        optuna.load_study(study_name="missing", storage=storage)
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(storage=storage, study_name="s")
    assert time.monotonic() - started < SQLITE_BUSY_SECONDS
    assert "unreachable" not in capsys.readouterr().err


def test_writes_to_the_running_trial_never_wait_and_are_written_later(sqlite_study):
    path, url, study = sqlite_study
    storage = open_storage(url, retry_seconds=60)
    study = optuna.load_study(study_name="s", storage=storage)
    trial = study.ask()
    trial_id = storage.trial_id("s", trial.number)
    lock = ExclusiveLock(path, 60)
    started = time.monotonic()
    with storage.owning(trial_id):
        trial.set_user_attr("map50_95", 0.5)  # one try (sqlite3's own wait), then queued: training goes on
        assert time.monotonic() - started < SQLITE_BUSY_SECONDS + 2
        assert storage.queued() == [("user", "map50_95", 0.5)] and trial.user_attrs["map50_95"] == 0.5
        lock.release()
        trial.set_user_attr("epochs", 3)  # the next write takes the queued one along, first
        assert storage.queued() == []
    assert storage.get_trial(trial_id).user_attrs == {"map50_95": 0.5, "epochs": 3}


class _Flaky(optuna.storages.InMemoryStorage):
    """An in-memory storage whose attribute writes fail as a dropped connection while `away` is set."""

    away = True

    def set_trial_user_attr(self, trial_id, key, value):
        if self.away:
            raise sqlalchemy.exc.OperationalError("UPDATE", {}, ConnectionError("server closed the connection"))
        super().set_trial_user_attr(trial_id, key, value)


def test_threads_writing_to_the_owned_trial_lose_nothing_and_keep_their_order():
    """Optuna requires a storage to be thread-safe: the queue of the owned trial is shared by every thread."""
    inner = _Flaky()
    storage = RetryingStorage(inner, "memory", None, Outage(60))
    study = optuna.create_study(storage=storage, study_name="s")
    trial_id = storage.trial_id("s", study.ask().number)
    other_id = storage.trial_id("s", study.ask().number)

    def write(thread: int) -> None:
        for value in range(200):
            storage.set_trial_user_attr(trial_id, f"t{thread}", value)
            storage.set_trial_user_attr(trial_id, f"t{thread}.{value}", value)
            if value == 100 and thread == 0:
                inner.away = False  # the storage comes back midway

    with storage.owning(trial_id):
        threads = [threading.Thread(target=write, args=(thread,)) for thread in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        storage.set_trial_user_attr(other_id, "other", 1)  # another trial's write goes straight through
        assert storage.queued() == []
    attrs = storage.get_trial(trial_id).user_attrs
    assert [attrs[f"t{thread}"] for thread in range(4)] == [199] * 4  # each thread's last write is the last written
    assert len(attrs) == 4 + 4 * 200 and storage.get_trial(other_id).user_attrs == {"other": 1}
