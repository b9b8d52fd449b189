"""A real Locust run driving list-append transactions (f="txn") through the `sql`
protocol's client into a real PostgreSQL 15 at REPEATABLE READ: the recorded
history is well formed, every region's final read succeeds, and the isolation
checker finds write skew (G2-item) and nothing snapshot isolation forbids."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import need

from chaoskit.checker import read_history
from chaoskit.checker.isolation import check_isolation
from chaoskit.load import LoadPlan, WorkloadSpec, final_reads, start_load
from chaoskit.load.history import problems, read_records
from chaoskit.testing.postgres import local_postgres, postgres_bindir


@pytest.fixture
def pg_port():
    need("PostgreSQL", postgres_bindir() is not None, "apt-get install postgresql-15")
    with local_postgres() as dsn:
        yield int(dsn.split("port=")[1].split()[0])


def test_locust_drives_transactions_into_postgres(tmp_path: Path, pg_port: int) -> None:
    wl = WorkloadSpec(
        "list-append",
        keys=3,
        duration_s=3.0,
        rate=None,
        read_ratio=0.5,
        timeout_s=5.0,
        seed=1,
        txn={"min_len": 2, "max_len": 3, "max_writes_per_key": 10_000},
    )
    views = {r: {f"{r}-1": {"sql": f"127.0.0.1:{pg_port}"}} for r in ("east", "west")}
    plan = LoadPlan(
        "chaoskit.testing.postgres:LocalPostgresAdapter",
        {"isolation": "repeatable-read"},
        views,
        {"east": 3, "west": 3},
        wl,
        time.monotonic_ns(),
        tmp_path / "out",
    )
    run = start_load(plan)
    assert run.wait(timeout_s=90) == 0
    assert final_reads(plan) == {"east": {"ok": 1, "failed": 0}, "west": {"ok": 1, "failed": 0}}
    recs = read_records(plan.history_path)
    assert problems(recs) == []
    assert {r["f"] for r in recs} == {"txn"} and {r["region"] for r in recs} == {"east", "west"}
    h = read_history(plan.history_path)
    r = check_isolation(h, "list-append", "serializable")
    assert r.counts.get("ok", 0) > 50, r.counts
    assert "G2-item" in r.kinds, r.summary()
    si = check_isolation(h, "list-append", "snapshot-isolation")
    assert si.verdict == "valid", [a.explanation for a in si.anomalies]
