"""A throwaway local PostgreSQL server: initdb into a temporary directory, postgres on
a free loopback port as the `postgres` user (PostgreSQL refuses to run as root),
removed with its files on exit, also after an exception or Ctrl-C. With
LocalPostgresAdapter the load runner's Locust users reach it through the `sql`
client (views name its port `sql`).

    with local_postgres() as dsn:
        conn = psycopg.connect(dsn)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chaoskit.procgroup import killpg_quiet
from chaoskit.systems.base import Client, NodeSpec, SystemAdapter, SystemContext
from chaoskit.topology.model import Endpoint

BINDIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def postgres_bindir() -> Path | None:
    """Where initdb and postgres are (Debian's layout), or None."""
    for d in BINDIRS:
        if (Path(d) / "postgres").is_file():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def local_postgres(timeout_s: float = 60.0, max_connections: int = 40) -> Iterator[str]:
    """Yield a libpq connection string for a fresh server (database postgres,
    user postgres, trust authentication on loopback only)."""
    import psycopg

    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL binaries in {', '.join(BINDIRS)}")
    tmp = Path(tempfile.mkdtemp(prefix="chaoskit-pg-"))
    proc: subprocess.Popen | None = None
    try:
        if os.geteuid() == 0:
            shutil.chown(tmp, "postgres", "postgres")
        data = tmp / "data"
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )
        port = _free_port()
        proc = subprocess.Popen(
            _as_postgres(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(tmp),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "deadlock_timeout=20ms",
                    "-c",
                    f"max_connections={max_connections}",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "postgres.log", "wb"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(dsn).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp / "postgres.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"postgres did not start on port {port}: {log}") from None
                time.sleep(0.2)
        yield dsn
    finally:
        if proc is not None:
            _stop(proc, tmp / "data" / "postmaster.pid")
        shutil.rmtree(tmp, ignore_errors=True)


def _stop(proc: subprocess.Popen, pidfile: Path) -> None:
    """Fast shutdown of the whole process group; SIGKILL what is left after 15 s.
    Waits for the postmaster itself, which runuser does not wait for."""
    try:
        postmaster = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        postmaster = None
    killpg_quiet(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
        proc.poll() is None or (postmaster and Path(f"/proc/{postmaster}").exists())
    ):
        time.sleep(0.1)
    killpg_quiet(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


class LocalPostgresAdapter(SystemAdapter):
    """An already running server (local_postgres) as a system for the load runner:
    each region's client is the `sql` protocol's client on the view's `sql` port,
    with the plan's system options as its options (e.g. isolation)."""

    kind = "local-postgres"
    workloads = ("register", "set", "list-append", "rw-register", "bank")

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        raise NotImplementedError("local_postgres is started by tests directly")

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        pass

    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        from chaoskit.clients.sql import SqlClient

        ep = view[sorted(view)[0]]["sql"]
        return SqlClient(dict(self.options or {}), ep.host, ep.port, timeout_s)
