"""The `sql` client protocol: registers and sets as rows of a PostgreSQL database.

Rows as registers: table `chaoskit_register(key text primary key, value bigint)`;
sets: `chaoskit_set(key text, element bigint, primary key (key, element))`. Both are
created on first use. Every operation is one autocommitted statement:

- read: SELECT; write: INSERT ... ON CONFLICT DO UPDATE;
- cas [expected, new]: UPDATE ... WHERE key = k AND value = expected (one atomic
  statement; 0 rows = the compare did not match); expected None: INSERT ... ON
  CONFLICT DO NOTHING (0 rows = the key exists);
- add: INSERT ... ON CONFLICT DO NOTHING; read-all: SELECT of the key's elements;
- txn: a list of micro-operations [f, k, v] run as one transaction by
  chaoskit.clients.sql_txn at the `isolation` option's level.

Classification (`fail` only when the statement certainly had no effect):

- every failed read is `fail`;
- a connection that could not be made is `fail`; so is an error the server raised
  while the connection stayed usable (read-only standby, serialization failure,
  constraint): an autocommitted statement that errors is rolled back;
- a timeout, or a connection lost after the statement was sent, is `info`: the
  commit may have happened. So is a commit the server reports with the warning
  "canceling wait for synchronous replication": it committed locally but may not
  have reached the standby.
- a cas whose compare did not match is `fail` with error "cas-mismatch: ...".

The timeout bounds each statement on the client side (the socket is shut down when
it expires: a blackholed link never answers); no `statement_timeout` is set, since a
statement cancelled while waiting for a synchronous standby still commits locally.

Options: dbname (default postgres), user (default postgres), password; for txn:
isolation (serializable | repeatable-read | read-committed; default serializable),
txn_workload (list-append | rw-register | bank; default none: each micro-operation
goes to the table that holds its key, see chaoskit/clients/sql_txn.py), accounts and
balance (bank: the accounts created with that opening balance).
"""

from __future__ import annotations

import math
import os
import socket
import threading
from typing import Any

import psycopg
from psycopg import errors

from chaoskit.systems.base import CAS_MISMATCH, Client, Outcome, unknown_names

OPTIONS = {"dbname", "user", "password", "isolation", "txn_workload", "accounts", "balance"}
ISOLATION_LEVELS = ("serializable", "repeatable-read", "read-committed")
TXN_WORKLOADS = ("list-append", "rw-register", "bank")
READS = ("read", "read-all")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chaoskit_register (key text PRIMARY KEY, value bigint)",
    "CREATE TABLE IF NOT EXISTS chaoskit_set (key text, element bigint, PRIMARY KEY (key, element))",
)
SYNC_CANCEL = "canceling wait for synchronous replication"


class _Expired(Exception):
    pass


class SqlClient(Client):
    """One autocommit connection to one PostgreSQL server (reconnects after errors)."""

    def __init__(self, options: dict, host: str, port: int, timeout_s: float) -> None:
        self.options = dict(options or {})
        self.host, self.port, self.timeout_s = host, int(port), float(timeout_s)
        self._conn: psycopg.Connection | None = None
        self._schema_ready = False
        self._txn_schema: set[str] = set()
        self._expired = False
        self._notices: list[str] = []

    @classmethod
    def check_options(cls, options: dict) -> list[tuple[str, str]]:
        problems = unknown_names(options, sorted(OPTIONS), "sql option")
        for k in ("dbname", "user", "password"):
            v = options.get(k)
            if v is not None and not isinstance(v, str):
                problems.append((k, f"{v!r} must be a string"))
        iso = options.get("isolation")
        if iso is not None and iso not in ISOLATION_LEVELS:
            problems.append(("isolation", f"{iso!r}: valid levels: {', '.join(ISOLATION_LEVELS)}"))
        tw = options.get("txn_workload")
        if tw is not None and tw not in TXN_WORKLOADS:
            problems.append(("txn_workload", f"{tw!r}: valid: {', '.join(TXN_WORKLOADS)}"))
        return problems

    # -- connection ------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = None
        conn = psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.options.get("dbname", "postgres"),
            user=self.options.get("user", "postgres"),
            password=self.options.get("password"),
            connect_timeout=max(2, math.ceil(self.timeout_s)),
            autocommit=True,
        )
        conn.add_notice_handler(lambda d: self._notices.append(str(d.message_primary)))
        self._conn = conn
        if not self._schema_ready:
            for stmt in SCHEMA:
                self._guarded(lambda s=stmt: conn.execute(s))
            self._schema_ready = True
        return conn

    def _expire(self) -> None:
        """Timer callback: unblock a statement that outlived the timeout."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        self._expired = True
        try:
            s = socket.socket(fileno=os.dup(conn.pgconn.socket))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()
        except OSError:
            pass

    def _guarded(self, fn: Any) -> Any:
        self._expired = False
        timer = threading.Timer(self.timeout_s, self._expire)
        timer.daemon = True
        timer.start()
        try:
            return fn()
        except psycopg.OperationalError as e:
            if self._expired:
                raise _Expired() from e
            raise
        finally:
            timer.cancel()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None

    # -- operations ------------------------------------------------------------------

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        if f not in ("read", "write", "cas", "add", "read-all", "txn"):
            raise ValueError(f"sql client: unsupported operation {f!r}")
        try:
            conn = self._connect()
        except _Expired:
            self._drop()
            return Outcome("fail", None, "timeout while connecting")
        except psycopg.Error as e:
            self._drop()
            return Outcome("fail", None, f"connection failed: {_first_line(e)}")
        self._notices.clear()
        try:
            out = self._guarded(lambda: self._run(conn, f, key, value))
        except _Expired:
            self._drop()
            return Outcome("fail" if f in READS else "info", None, "timeout")
        except psycopg.Error as e:
            broken = conn.closed or conn.broken
            if broken:
                self._drop()
            if f in READS or (not broken and not isinstance(e, errors.QueryCanceled)):
                return Outcome("fail", None, f"{_sqlstate(e)}{_first_line(e)}")
            return Outcome("info", None, f"connection lost: {_first_line(e)}")
        if out.type == "ok" and f not in READS and any(SYNC_CANCEL in n for n in self._notices):
            return Outcome("info", out.value, "committed locally, not confirmed by the standby")
        return out

    def _run(self, conn: psycopg.Connection, f: str, key: str, value: Any) -> Outcome:
        if f == "read":
            row = conn.execute(
                "SELECT value FROM chaoskit_register WHERE key = %s", (key,)
            ).fetchone()
            return Outcome("ok", None if row is None else row[0])
        if f == "write":
            conn.execute(
                "INSERT INTO chaoskit_register (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )
            return Outcome("ok", value)
        if f == "cas":
            expected, new = value
            if expected is None:
                cur = conn.execute(
                    "INSERT INTO chaoskit_register (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key, new),
                )
            else:
                cur = conn.execute(
                    "UPDATE chaoskit_register SET value = %s WHERE key = %s AND value = %s",
                    (new, key, expected),
                )
            if cur.rowcount == 1:
                return Outcome("ok", [expected, new])
            return Outcome("fail", [expected, new], f"{CAS_MISMATCH}: value differs")
        if f == "add":
            conn.execute(
                "INSERT INTO chaoskit_set (key, element) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, value),
            )
            return Outcome("ok", value)
        if f == "read-all":
            rows = conn.execute(
                "SELECT element FROM chaoskit_set WHERE key = %s ORDER BY element", (key,)
            ).fetchall()
            return Outcome("ok", [r[0] for r in rows])
        return self._txn(conn, value)

    def _txn(self, conn: psycopg.Connection, ops: Any) -> Outcome:
        from chaoskit.clients import sql_txn

        # None: sql_txn sends each micro-operation to the table that holds its key (a
        # read-only list-append transaction looks like a register one)
        workload = self.options.get("txn_workload")
        accounts = self.options.get("accounts")
        setup = workload or ("bank" if accounts else None)
        if setup is not None and setup not in self._txn_schema:
            sql_txn.ensure_schema(conn, setup, accounts, int(self.options.get("balance", 10)))
            self._txn_schema.add(setup)
        try:
            return sql_txn.run_txn(
                conn, ops, self.options.get("isolation", "serializable"), workload
            )
        finally:
            if not conn.closed:
                conn.autocommit = True  # single operations commit one statement each

    def close(self) -> None:
        self._drop()


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [e.__class__.__name__])[0]


def _sqlstate(e: psycopg.Error) -> str:
    return f"{e.sqlstate}: " if getattr(e, "sqlstate", None) else ""
