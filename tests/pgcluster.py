"""A throwaway PostgreSQL cluster for the tests: initdb into a temp dir, started on a free loopback port.

The server refuses to run as root, and the tests run as root on CI: then initdb and pg_ctl run as the ``postgres``
user, in a temp dir it owns. Authentication is trust, on loopback and the cluster's own socket dir only. Missing
binaries fail the tests that need the cluster, with a message saying what to install: never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Final

BIN_DIRS: Final = tuple(Path(f"/usr/lib/postgresql/{major}/bin") for major in (15, 16, 17))
SERVICE_USER: Final = "postgres"
# Durability is not what the tests check: no fsync makes CREATE DATABASE and every commit fast.
SERVER_OPTIONS: Final = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
    "-c listen_addresses=127.0.0.1"
)


class ClusterError(RuntimeError):
    """The cluster could not be made or started; the message says why and what to do."""


def bin_dir() -> Path:
    """The folder holding initdb and pg_ctl (PG_BIN_DIR, or Debian's place for PostgreSQL 15 and later)."""
    wanted = os.environ.get("PG_BIN_DIR")
    for candidate in [Path(wanted)] if wanted else list(BIN_DIRS):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found in "
        + (wanted or ", ".join(map(str, BIN_DIRS)))
        + ": install Debian's postgresql-15 package (apt-get install postgresql-15) or set PG_BIN_DIR"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgCluster:
    """One running cluster; ``url(database)`` names a database on it as DATABASE_URL would."""

    def __init__(self) -> None:
        self._bin = bin_dir()
        self._as_service_user = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="reelbot-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.port = 0
        self.user = SERVICE_USER if self._as_service_user else os.environ.get("USER", SERVICE_USER)

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` on this cluster, over loopback TCP."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb, then start the server on a free port (another, should a racing process take the first)."""
        self.socket_dir.mkdir()
        if self._as_service_user:
            shutil.chown(self.root, SERVICE_USER)
            shutil.chown(self.socket_dir, SERVICE_USER)
            self.root.chmod(0o755)  # the postgres user must reach its data dir; pytest's own temp dirs are root's
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        last = ""
        for _ in range(5):
            self.port = _free_port()
            options = f"{SERVER_OPTIONS} -p {self.port} -k {self.socket_dir}"
            started = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
                "-w",
                "start",
                check=False,
            )
            if started.returncode == 0:
                return
            last = started.stdout + started.stderr + self._log_tail()
        raise ClusterError(f"the PostgreSQL test cluster did not start: {last}")

    def stop(self) -> None:
        """Stop the server at once and delete everything it wrote."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / program), *args]
        if self._as_service_user:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=120, check=False)
        if check and done.returncode != 0:
            raise ClusterError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done
