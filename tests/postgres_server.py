"""A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, a temporary folder, loopback, a free port.

PostgreSQL refuses to run as root, so as root (CI) the server runs as the `postgres` system user in a folder it
owns. Trust authentication on 127.0.0.1 only; fsync off, since the data is thrown away.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "shapenas"


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's `bin` folder holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def why_not_available() -> str | None:
    """None when a server can be started here, else the reason (for a skip message)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if find_bin_dir() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin_dir = find_bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="shapenas-pg-"))
        self.port = _free_port()
        self.url = f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/postgres"
        self.running = False

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}{self._log_tail()}")

    def _log_tail(self) -> str:
        log = self.folder / "server.log"
        return f"\nserver log:\n{log.read_text()[-2000:]}" if log.exists() else ""

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self.resume()
        return self

    def pause(self) -> None:
        """Stop the server as an administrator would for a restart (open sessions are cut); the data stays."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        self.running = False

    def resume(self) -> None:
        """Start the (paused or new) server on the same port."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        data, log = self.folder / "data", self.folder / "server.log"
        self._run("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        self.running = True

    def stop(self) -> None:
        try:
            if self.running:
                self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
