"""The redis and sql client protocols against real servers (Debian's redis-server and
PostgreSQL 15): every operation, cas atomicity on a mismatch, and honest
classification of refused connections, read-only replicas and timeouts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import need
from helpers import free_port

from chaoskit.clients.redis import RedisClient
from chaoskit.clients.sql import SqlClient

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _wait(ok, what: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while not ok():
        assert time.monotonic() < end, f"{what} did not come up"
        time.sleep(0.1)


@pytest.fixture
def redis_port():
    need("redis-server", shutil.which("redis-server") is not None, "apt-get install redis-server")
    port = free_port()
    p = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    c = RedisClient({}, "127.0.0.1", port, 1.0)
    _wait(lambda: c.invoke("read", "x", None).type == "ok", "redis-server")
    c.close()
    yield port
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


@pytest.fixture
def pg_port():
    need("PostgreSQL 15", (PG_BIN / "postgres").exists(), "apt-get install postgresql-15")
    port = free_port()
    # PostgreSQL refuses to run as root, and pytest's tmp_path is root-only (0700).
    tmp_path = Path(tempfile.mkdtemp(prefix="chaoskit-pg-"))
    data = tmp_path / "pg"
    shutil.chown(tmp_path, "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    p = subprocess.Popen(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(tmp_path),
            "-c",
            "listen_addresses=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    c = SqlClient({}, "127.0.0.1", port, 1.0)
    _wait(lambda: c.invoke("read", "x", None).type == "ok", "postgres")
    c.close()
    yield port
    os.killpg(p.pid, signal.SIGINT)  # fast shutdown: open sessions do not hold it up
    p.wait(timeout=20)
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("proto", ["redis", "sql"])
def test_operations(proto, request):
    port = request.getfixturevalue("redis_port" if proto == "redis" else "pg_port")
    c = (RedisClient if proto == "redis" else SqlClient)({}, "127.0.0.1", port, 2.0)
    try:
        assert (
            c.invoke("read", "k", None).type == "ok" and c.invoke("read", "k", None).value is None
        )
        assert c.invoke("write", "k", 1).type == "ok"
        assert c.invoke("read", "k", None).value == 1
        miss = c.invoke("cas", "k", [2, 3])
        assert (miss.type, miss.error.split(":")[0]) == ("fail", "cas-mismatch")
        assert c.invoke("read", "k", None).value == 1  # a mismatch changed nothing
        assert c.invoke("cas", "k", [1, 3]).type == "ok"
        assert c.invoke("read", "k", None).value == 3
        assert c.invoke("cas", "new", [None, 5]).type == "ok"
        assert c.invoke("cas", "new", [None, 6]).type == "fail"
        assert c.invoke("read", "new", None).value == 5
        for e in (4, 2, 4):
            assert c.invoke("add", "s", e).type == "ok"
        assert c.invoke("read-all", "s", None).value == [2, 4]
    finally:
        c.close()


@pytest.mark.parametrize("cls", [RedisClient, SqlClient])
def test_refused_connection_is_a_definite_failure(cls):
    c = cls({}, "127.0.0.1", free_port(), 1.0)
    for f, v in (("read", None), ("write", 1), ("cas", [1, 2])):
        out = c.invoke(f, "k", v)
        assert out.type == "fail", (f, out)


def test_redis_replica_refuses_writes_definitely(redis_port):
    c = RedisClient({}, "127.0.0.1", redis_port, 1.0)
    c.invoke("write", "k", 1)
    c._r.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
    assert c.role() == "slave"
    for f, v in (("write", 2), ("cas", [1, 2]), ("add", 3)):
        out = c.invoke(f, "k" if f != "add" else "s", v)
        assert out.type == "fail" and "read only" in out.error, out


def test_sql_statement_past_the_timeout_is_unknown(pg_port):
    """A write whose answer does not come within the timeout may have committed: info.
    The server is stopped (SIGSTOP) while the client waits, as a blackholed link would."""
    c = SqlClient({}, "127.0.0.1", pg_port, 0.5)
    assert c.invoke("write", "k", 1).type == "ok"
    backend_pid = c._conn.info.backend_pid
    os.kill(backend_pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        out = c.invoke("write", "k", 2)
        took = time.monotonic() - t
    finally:
        os.kill(backend_pid, signal.SIGCONT)
    assert (out.type, out.error) == ("info", "timeout") and took < 5
    read = c.invoke("read", "k", None)  # a fresh connection serves again
    c.close()
    assert read.type == "ok" and read.value in (1, 2)


def test_check_options():
    assert RedisClient.check_options({"db": 1}) == []
    assert [p for p, _ in RedisClient.check_options({"db": -1, "nope": 1})] == ["nope", "db"]
    assert SqlClient.check_options({"dbname": "x", "isolation": "serializable"}) == []
    assert SqlClient.check_options({"txn_workload": "bank", "accounts": ["a", "b"]}) == []
    probs = SqlClient.check_options({"isolation": "snapshot"})
    assert probs and "serializable" in probs[0][1]


def test_sql_transactions_go_through_sql_txn(pg_port):
    c = SqlClient({"isolation": "serializable"}, "127.0.0.1", pg_port, 2.0)
    try:
        out = c.invoke("txn", None, [["append", "x", 1], ["r", "x", None]])
        assert (out.type, out.value) == ("ok", [["append", "x", 1], ["r", "x", [1]]])
        assert c.invoke("write", "k", 5).type == "ok"  # autocommit again afterwards
        assert c.invoke("read", "k", None).value == 5
        out = c.invoke("txn", None, [["w", "y", 3], ["r", "y", None]])
        assert out.type == "ok" and out.value[1] == ["r", "y", 3]
    finally:
        c.close()
