"""Disk faults reach PostgreSQL under Patroni: fsync EIO on the primary makes it
PANIC, Patroni fails over to the synchronous standby, and no acknowledged write is
lost (experiments/postgres-fsync-eio.yaml, shortened)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_databases import _need_postgres, results, run, takeovers

__all__ = ["results"]  # the fixture, for pytest


@pytest.mark.slow
def test_fsync_eio_on_the_primary_fails_over_and_loses_nothing(results: Path) -> None:
    _need_postgres()
    code, run_dir, check, events, out = run(
        "postgres-fsync-eio", results, "load.duration=32s", "schedule.0.for=16s"
    )
    assert code == 0, out
    assert check["linearizability"]["verdict"] == "linearizable"
    assert check["lost_writes"]["count"] == 0
    (applied,) = [e for e in events if e["event"] == "apply"]
    (primary,) = applied["targets"]["nodes"]
    # the shim reached the postgres processes: the primary's log shows the PANIC
    log = (run_dir / "logs" / f"{primary}.log").read_text(errors="replace")
    assert "PANIC:  could not fdatasync" in log or "PANIC:  could not fsync" in log
    # and Patroni moved the primary off the failing disk
    assert takeovers(events) and takeovers(events)[0]["roles"]["primary"] != [primary]
