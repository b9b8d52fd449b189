"""Drive a transactional workload against PostgreSQL with threads, one connection
each, through chaoskit.clients.sql_txn; return the history (in memory, Jepsen's
shape). Used by the real-database tests and examples."""

from __future__ import annotations

import random
import threading
import time
from itertools import count
from typing import Any

from chaoskit.checker.history import History, Record, freeze, make_history
from chaoskit.clients.sql_txn import TABLES, ensure_schema, run_txn
from chaoskit.load.txn_workloads import TxnGenerator, TxnSpec


def drive(
    dsn: str,
    spec: TxnSpec,
    isolation: str,
    threads: int = 6,
    seconds: float = 3.0,
    seed: int = 0,
    max_txns: int | None = None,
    via: str = "psycopg",
) -> History:
    """Run `threads` clients for `seconds` (or until `max_txns` transactions), then a
    final read; a client whose connection broke reconnects as a new process. The
    workload's table starts empty (values restart at 1, so old rows would mislead).

    via "psycopg": sql_txn.run_txn on a connection per thread, naming the workload;
    via "sql-client": the `sql` protocol's client (chaoskit.clients.sql.SqlClient),
    invoke("txn", None, mops), as a load user runs it."""
    import psycopg

    setup = psycopg.connect(dsn, autocommit=True)
    setup.execute(f"DROP TABLE IF EXISTS {TABLES[spec.workload]}")
    accounts = [f"a{i}" for i in range(spec.keys)] if spec.workload == "bank" else None
    ensure_schema(setup, spec.workload, accounts)
    setup.close()
    lock = threading.Lock()
    records: list[Record] = []
    values = count(1)
    processes = count(0)
    started = count(0)
    t0 = time.monotonic_ns()
    stop_at = time.monotonic() + seconds

    def record(process: int, typ: str, value: Any, error: str | None = None) -> None:
        with lock:
            i = len(records)
            records.append(
                Record(
                    index=i,
                    process=process,
                    type=typ,
                    f="txn",
                    key=None,
                    value=freeze(value),
                    time=time.monotonic_ns() - t0,
                    line=i + 1,
                    error=error,
                )
            )

    def one(conn: Any, process: int, mops: list[Any]) -> tuple[Any, int]:
        record(process, "invoke", mops)
        if via == "sql-client":
            out = conn.invoke("txn", None, mops)
            record(process, out.type, out.value if out.type == "ok" else mops, out.error)
            return conn, next(processes) if out.type == "info" else process
        out = run_txn(conn, mops, isolation, spec.workload)
        record(process, out.type, out.value if out.type == "ok" else mops, out.error)
        if out.type == "info" or conn.broken:
            conn.close()
            return psycopg.connect(dsn), next(processes)
        return conn, process

    def connect() -> Any:
        if via == "sql-client":
            from chaoskit.clients.sql import SqlClient

            kv = dict(part.split("=", 1) for part in dsn.split())
            options = {"isolation": isolation.replace("-", " ")}
            return SqlClient(options, kv["host"], int(kv["port"]), timeout_s=10.0)
        return psycopg.connect(dsn)

    def client(n: int) -> None:
        gen = TxnGenerator(spec, lambda: next(values), random.Random(f"{seed}:{n}"))
        conn, process = connect(), next(processes)
        try:
            while time.monotonic() < stop_at and (max_txns is None or next(started) < max_txns):
                conn, process = one(conn, process, gen.next())
            if n == 0:
                time.sleep(0.2)  # the others finish their last transaction
                one(conn, process, gen.final())
        finally:
            conn.close()

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return make_history(records)
