"""The shipped PostgreSQL isolation experiments through `chaoskit run` (PostgreSQL 15 +
Patroni on the local backend, list-append transactions through the links), each
with its expected verdict: SERIALIZABLE strict-serializable with nothing lost,
REPEATABLE READ showing write skew (G2-item), READ COMMITTED showing G-single or
worse, and an asynchronous failover losing committed transactions, counted like lost
writes, with the anomalies that follows. Nothing of a run is left behind."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from test_databases import _need_postgres, run


@pytest.fixture
def results():
    d = Path(tempfile.mkdtemp(prefix="chaoskit-iso-"))
    d.chmod(0o755)  # the unprivileged postgres user enters it
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _check(check: dict, name: str) -> dict:
    return next(r for r in check["checks"] if r["check"] == name)


@pytest.mark.slow
def test_serializable_experiment_finds_nothing(results: Path) -> None:
    _need_postgres()
    code, _, check, _, out = run("postgres-isolation-serializable", results)
    assert code == 0, out
    assert check["isolation"]["verdict"] == "valid" and check["isolation"]["allowed"] == []
    assert check["isolation"]["counts"]["ok"] > 50


@pytest.mark.slow
def test_repeatable_read_experiment_shows_write_skew(results: Path) -> None:
    _need_postgres()
    code, _, check, _, out = run("postgres-isolation-repeatable-read", results)
    assert code == 0, out
    assert "G2-item" in check["isolation"]["anomaly_types"]
    assert "G2-item found" in _check(check, "isolation")["message"]


@pytest.mark.slow
def test_read_committed_experiment_shows_g_single_or_worse(results: Path) -> None:
    _need_postgres()
    code, _, check, _, out = run("postgres-isolation-read-committed", results)
    assert code == 0, out
    kinds = set(check["isolation"]["anomaly_types"])
    assert kinds & {"G-single", "G-nonadjacent", "lost-update"}, kinds


@pytest.mark.slow
def test_failover_loses_committed_transactions(results: Path) -> None:
    _need_postgres()
    code, _, check, _, out = run("postgres-isolation-failover", results, "load.duration=45s")
    assert code == 0, out
    assert check["lost_writes"]["count"] >= 1
    assert check["isolation"]["verdict"] == "invalid"
