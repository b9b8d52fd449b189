"""Transactions on a real PostgreSQL 15 (a throwaway local server), through
chaoskit.clients.sql_txn, checked by the isolation checker.

The known behaviour of PostgreSQL's levels is the answer key: SERIALIZABLE (SSI)
shows no anomaly; REPEATABLE READ is snapshot isolation, so write skew (G2-item)
shows up and nothing snapshot isolation forbids; READ COMMITTED shows G-single
(read skew) or worse. Each run is bounded to a few seconds; the workload is short
transactions on three keys so that concurrent transactions overlap often.
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import need

from chaoskit.checker.isolation import check_isolation
from chaoskit.clients.sql_txn import ensure_schema, run_txn
from chaoskit.load.txn_workloads import TxnSpec
from chaoskit.testing.postgres import local_postgres, postgres_bindir
from chaoskit.testing.txn_drive import drive

SPEC = TxnSpec("list-append", keys=3, min_len=2, max_len=3, max_writes_per_key=10_000)


@pytest.fixture(scope="module")
def pg():
    need("PostgreSQL", postgres_bindir() is not None, "apt-get install postgresql-15")
    with local_postgres() as dsn:
        yield dsn


def _fresh(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        for t in ("chaoskit_list_append", "chaoskit_rw_register", "chaoskit_bank"):
            c.execute(f"DROP TABLE IF EXISTS {t}")


def test_serializable_has_no_anomaly(pg):
    _fresh(pg)
    h = drive(pg, SPEC, "serializable", threads=6, seconds=2.5)
    r = check_isolation(h, "list-append", "strict-serializable")
    assert r.counts.get("ok", 0) > 100, r.counts
    assert r.verdict == "valid", [a.explanation for a in r.anomalies]
    assert not r.allowed


def test_repeatable_read_shows_write_skew_only(pg):
    _fresh(pg)
    h = drive(pg, SPEC, "repeatable-read", threads=6, seconds=2.5)
    r = check_isolation(h, "list-append", "serializable")
    assert "G2-item" in r.kinds, r.summary()
    g2 = next(a for a in r.anomalies if a.kind == "G2-item")
    assert sum(s["type"] == "rw" for s in g2.steps) >= 2
    # snapshot isolation holds: everything found is write skew, which SI allows
    si = check_isolation(h, "list-append", "snapshot-isolation")
    assert si.verdict == "valid", [a.explanation for a in si.anomalies]
    assert {a.kind for a in si.allowed} == {"G2-item"}


def test_read_committed_shows_g_single_or_worse(pg):
    _fresh(pg)
    h = drive(pg, SPEC, "read-committed", threads=6, seconds=2.5)
    r = check_isolation(h, "list-append", "snapshot-isolation")
    assert r.verdict == "invalid"
    assert {"G-single", "G-nonadjacent", "lost-update"} & set(r.kinds), r.summary()
    # but it is read committed: no G0 / G1, nothing internal
    rc = check_isolation(h, "list-append", "read-committed")
    assert rc.verdict == "valid", [a.explanation for a in rc.anomalies]


def test_bank_keeps_its_total_when_serializable(pg):
    _fresh(pg)
    spec = TxnSpec("bank", keys=4, read_ratio=0.3)
    h = drive(pg, spec, "serializable", threads=4, seconds=1.5)
    r = check_isolation(h, "bank", "serializable")
    assert r.verdict == "valid" and r.facts["audits"] > 0, r.summary()
    assert r.facts["total"] == 40


def test_bank_loses_money_under_read_committed(pg):
    # transfers read balances and write the computed new ones: at read committed two
    # concurrent transfers from one account overwrite each other (lost update)
    _fresh(pg)
    spec = TxnSpec("bank", keys=3, read_ratio=0.2)
    h = drive(pg, spec, "read-committed", threads=6, seconds=2.0)
    r = check_isolation(h, "bank", "snapshot-isolation")
    assert "wrong-total" in r.kinds, r.summary()


class _RacedCursor(psycopg.Cursor):
    """Before this transaction's first write, another session commits a write of the
    same row: at REPEATABLE READ the write then fails to serialize (a real conflict)."""

    other_dsn = ""

    def execute(self, query, params=None, **kw):
        if str(query).startswith("INSERT") and not getattr(self.connection, "raced", False):
            self.connection.raced = True
            with psycopg.connect(self.other_dsn, autocommit=True) as o:
                o.execute("UPDATE chaoskit_rw_register SET v = 99 WHERE k = 'x'")
        return super().execute(query, params, **kw)


def test_serialization_failure_is_fail(pg):
    _fresh(pg)
    a = psycopg.connect(pg)
    ensure_schema(a, "rw-register")
    out = run_txn(a, [["w", "x", 1], ["r", "x", None]], "serializable", "rw-register")
    assert out.type == "ok" and out.value == [["w", "x", 1], ["r", "x", 1]]
    _RacedCursor.other_dsn = pg
    a.cursor_factory = _RacedCursor
    out = run_txn(a, [["r", "x", None], ["w", "x", 2]], "repeatable-read", "rw-register")
    assert out.type == "fail" and "SerializationFailure" in out.error, out
    a.cursor_factory = psycopg.Cursor
    out = run_txn(a, [["r", "x", None]], "serializable", "rw-register")
    assert out.value == [["r", "x", 99]]  # the failed write left nothing
    a.close()


class _DiesInCommit(psycopg.Connection):
    """A real connection whose backend is terminated just as COMMIT is sent."""

    killer_dsn = ""

    def commit(self) -> None:
        with psycopg.connect(self.killer_dsn, autocommit=True) as k:
            k.execute("SELECT pg_terminate_backend(%s)", (self.info.backend_pid,))
        super().commit()


def test_connection_lost_in_commit_is_info_and_before_is_fail(pg):
    _fresh(pg)
    with psycopg.connect(pg) as c:
        ensure_schema(c, "list-append")
    _DiesInCommit.killer_dsn = pg
    conn = _DiesInCommit.connect(pg)
    out = run_txn(conn, [["append", "x", 1]], "serializable", "list-append")
    assert out.type == "info", out  # COMMIT was in flight: it may have committed
    conn.close()
    conn = psycopg.connect(pg)
    with psycopg.connect(pg, autocommit=True) as k:
        k.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    out = run_txn(conn, [["append", "x", 2]], "serializable", "list-append")
    assert out.type == "fail", out
    conn.close()


def test_sql_client_runs_transactions(pg):
    """The `sql` protocol's client (a load user's client) with f="txn": the tables say
    which workload a micro-operation belongs to, and single statements still autocommit."""
    from chaoskit.clients.sql import SqlClient

    _fresh(pg)
    port = int(pg.split("port=")[1].split()[0])
    c = SqlClient({"isolation": "serializable"}, "127.0.0.1", port, timeout_s=10.0)
    try:
        out = c.invoke("txn", None, [["append", "la", 1], ["r", "la", None], ["w", "rw", 7]])
        assert out.type == "ok", out
        assert out.value == [["append", "la", 1], ["r", "la", [1]], ["w", "rw", 7]]
        out = c.invoke("txn", None, [["r", "la", None], ["r", "rw", None], ["r", "none", None]])
        assert out.value == [["r", "la", [1]], ["r", "rw", 7], ["r", "none", None]]
        assert c.invoke("write", "reg", 5).type == "ok"  # autocommit restored
        with psycopg.connect(pg) as other:
            row = other.execute("SELECT value FROM chaoskit_register WHERE key = 'reg'").fetchone()
        assert row == (5,)
    finally:
        c.close()


def test_sql_client_repeatable_read_shows_write_skew(pg):
    _fresh(pg)
    h = drive(pg, SPEC, "repeatable-read", threads=6, seconds=2.5, via="sql-client")
    r = check_isolation(h, "list-append", "serializable")
    assert "G2-item" in r.kinds, r.summary()
    assert check_isolation(h, "list-append", "snapshot-isolation").verdict == "valid"


def test_rw_register_serializable_clean_read_committed_loses_updates(pg):
    spec = TxnSpec("rw-register", keys=3, min_len=2, max_len=4, max_writes_per_key=10_000)
    h = drive(pg, spec, "serializable", threads=6, seconds=2.0)
    r = check_isolation(h, "rw-register", "strict-serializable")
    assert r.verdict == "valid" and not r.allowed, r.summary()
    h = drive(pg, spec, "read-committed", threads=6, seconds=2.0)
    r = check_isolation(h, "rw-register", "snapshot-isolation")
    assert {"lost-update", "G-single"} & set(r.kinds), r.summary()
    rc = check_isolation(h, "rw-register", "read-committed")
    assert rc.verdict == "valid", [a.explanation for a in rc.anomalies]
