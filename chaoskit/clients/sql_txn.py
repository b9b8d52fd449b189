"""One transaction of a transactional workload on a PostgreSQL connection (psycopg 3).

`run_txn(conn, mops, isolation, workload)` runs the micro-operations of one
list-append, rw-register or bank transaction at the given isolation level and
returns an Outcome: "ok" with the micro-operations completed (reads filled in; bank
writes carry the new balances), "fail" when the transaction certainly did not
commit (serialization failure, deadlock, a constraint, insufficient funds, the
connection lost before COMMIT was sent), "info" when it may have (the connection
lost or the server gone while COMMIT was in flight).

Without `workload` (the sql client's case: it only sees micro-operations) the
tables tell: a read returns the key's list, register value or balance, whichever
table holds the key (nothing: nil); an append goes to the list table; a write is a
bank transfer leg when the transaction read the key as an account, else a register
write. The tables are created on first use. The connection's autocommit and
isolation settings are restored afterwards, so a client can go on with single
statements.

Tables (created by `ensure_schema`, idempotent):
  chaoskit_list_append (k text primary key, v text)   comma-joined appended values;
                       an append is one UPSERT with `v || ',' || new`
  chaoskit_rw_register (k text primary key, v bigint)
  chaoskit_bank        (k text primary key, balance bigint)
"""

from __future__ import annotations

from typing import Any

from chaoskit.systems.base import Outcome

ISOLATION_LEVELS = ("serializable", "repeatable-read", "read-committed")  # or with spaces
TABLES = {
    "list-append": "chaoskit_list_append",
    "rw-register": "chaoskit_rw_register",
    "bank": "chaoskit_bank",
}
_SCHEMA = {
    "list-append": "CREATE TABLE IF NOT EXISTS chaoskit_list_append (k text PRIMARY KEY, v text)",
    "rw-register": "CREATE TABLE IF NOT EXISTS chaoskit_rw_register (k text PRIMARY KEY, v bigint)",
    "bank": "CREATE TABLE IF NOT EXISTS chaoskit_bank (k text PRIMARY KEY, balance bigint NOT NULL)",
}


class Abort(Exception):
    """The transaction gives up on purpose (bank: insufficient funds)."""


def ensure_schema(
    conn: Any, workload: str, accounts: list[str] | None = None, balance: int = 10
) -> None:
    """Create the workload's table; for bank, the accounts with `balance` each
    (existing accounts are left as they are)."""
    saved = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute(_SCHEMA[workload])
        for a in accounts or ():
            conn.execute(
                "INSERT INTO chaoskit_bank (k, balance) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (a, balance),
            )
    finally:
        conn.autocommit = saved


def run_txn(
    conn: Any, mops: list[Any], isolation: str = "serializable", workload: str | None = None
) -> Outcome:
    """Run one transaction; never raises for database errors (they are outcomes)."""
    import psycopg

    level = isolation.replace(" ", "-")
    if level not in ISOLATION_LEVELS:
        raise ValueError(f"isolation {isolation!r}; valid: {', '.join(ISOLATION_LEVELS)}")
    if workload is not None and workload not in TABLES:
        raise ValueError(f"workload {workload!r}; valid: {', '.join(TABLES)}")
    saved = (conn.autocommit, conn.isolation_level)
    try:
        if workload is None and id(conn) not in _READY:
            for w in TABLES:
                ensure_schema(conn, w)
            _READY.add(id(conn))
        conn.autocommit = False
        conn.isolation_level = getattr(psycopg.IsolationLevel, level.upper().replace("-", "_"))
        return _attempt(conn, mops, workload)
    except psycopg.Error as e:  # the table set-up failed: nothing ran
        _rollback(conn)
        return Outcome("fail", None, f"{type(e).__name__}: {_first_line(e)}")
    finally:
        if not conn.closed and not conn.broken:
            conn.autocommit, conn.isolation_level = saved


# connections (by id) on which the tables were created (a reused id costs a no-op)
_READY: set[int] = set()


def _attempt(conn: Any, mops: list[Any], workload: str | None) -> Outcome:
    import psycopg
    from psycopg import errors

    committing = False
    try:
        with conn.cursor() as cur:
            done = _STEPS[workload](cur, mops)
        committing = True
        conn.commit()
        return Outcome("ok", done)
    except Abort as e:
        _rollback(conn)
        return Outcome("fail", None, str(e))
    except (
        errors.SerializationFailure,
        errors.DeadlockDetected,
        errors.IntegrityError,
    ) as e:
        # the server rolled the transaction back (also when COMMIT itself was refused)
        _rollback(conn)
        return Outcome("fail", None, f"{type(e).__name__}: {_first_line(e)}")
    except psycopg.OperationalError as e:
        # connection lost: before COMMIT nothing can have committed; during it, unknown
        _rollback(conn)
        return Outcome(
            "info" if committing else "fail", None, f"{type(e).__name__}: {_first_line(e)}"
        )
    except psycopg.Error as e:
        _rollback(conn)
        if committing:
            return Outcome("info", None, f"{type(e).__name__} during commit: {_first_line(e)}")
        return Outcome("fail", None, f"{type(e).__name__}: {_first_line(e)}")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0]


def _rollback(conn: Any) -> None:
    try:
        if not conn.closed:
            conn.rollback()
    except Exception:  # a broken connection: the caller reconnects
        pass


def _list_append(cur: Any, mops: list[Any]) -> list[list[Any]]:
    out = []
    for f, k, v in mops:
        if f == "r":
            cur.execute("SELECT v FROM chaoskit_list_append WHERE k = %s", (str(k),))
            row = cur.fetchone()
            text = row[0] if row else None
            out.append(["r", k, [_elem(x) for x in text.split(",")] if text else []])
        elif f == "append":
            cur.execute(
                "INSERT INTO chaoskit_list_append AS t (k, v) VALUES (%s, %s) "
                "ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || EXCLUDED.v",
                (str(k), str(v)),
            )
            out.append(["append", k, v])
        else:
            raise ValueError(f"list-append micro-operation {f!r}; valid: r, append")
    return out


def _elem(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _rw_register(cur: Any, mops: list[Any]) -> list[list[Any]]:
    out = []
    for f, k, v in mops:
        if f == "r":
            cur.execute("SELECT v FROM chaoskit_rw_register WHERE k = %s", (str(k),))
            row = cur.fetchone()
            out.append(["r", k, row[0] if row else None])
        elif f == "w":
            cur.execute(
                "INSERT INTO chaoskit_rw_register (k, v) VALUES (%s, %s) "
                "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                (str(k), v),
            )
            out.append(["w", k, v])
        else:
            raise ValueError(f"rw-register micro-operation {f!r}; valid: r, w")
    return out


def _bank(cur: Any, mops: list[Any]) -> list[list[Any]]:
    """Reads fill in balances; a write carries a delta and completes with the new
    balance, computed from this transaction's read of the account."""
    out = []
    seen: dict[Any, int] = {}
    for f, k, v in mops:
        if f == "r":
            cur.execute("SELECT balance FROM chaoskit_bank WHERE k = %s", (str(k),))
            row = cur.fetchone()
            if row is None:
                raise Abort(f"no account {k!r}")
            seen[k] = row[0]
            out.append(["r", k, row[0]])
        elif f == "w":
            if k not in seen:
                raise ValueError(f"bank write of {k!r} before reading it")
            new = seen[k] + v
            if new < 0:
                raise Abort(f"insufficient funds: {k!r} holds {seen[k]}, transfer {-v}")
            cur.execute("UPDATE chaoskit_bank SET balance = %s WHERE k = %s", (new, str(k)))
            seen[k] = new
            out.append(["w", k, new])
        else:
            raise ValueError(f"bank micro-operation {f!r}; valid: r, w")
    return out


def _by_table(cur: Any, mops: list[Any]) -> list[list[Any]]:
    """Micro-operations of an unnamed workload, each routed by where its key lives."""
    out = []
    balances: dict[Any, int] = {}
    for f, k, v in mops:
        if f == "append":
            out.extend(_list_append(cur, [[f, k, v]]))
        elif f == "r":
            cur.execute(
                "SELECT 'L', v FROM chaoskit_list_append WHERE k = %(k)s UNION ALL "
                "SELECT 'R', v::text FROM chaoskit_rw_register WHERE k = %(k)s UNION ALL "
                "SELECT 'B', balance::text FROM chaoskit_bank WHERE k = %(k)s",
                {"k": str(k)},
            )
            row = cur.fetchone()
            if row is None:
                out.append(["r", k, None])
            elif row[0] == "L":
                out.append(["r", k, [_elem(x) for x in row[1].split(",")] if row[1] else []])
            else:
                out.append(["r", k, None if row[1] is None else int(row[1])])
                if row[0] == "B":
                    balances[k] = int(row[1])
        elif f == "w" and k in balances:
            new = balances[k] + v
            if new < 0:
                raise Abort(f"insufficient funds: {k!r} holds {balances[k]}, transfer {-v}")
            cur.execute("UPDATE chaoskit_bank SET balance = %s WHERE k = %s", (new, str(k)))
            balances[k] = new
            out.append(["w", k, new])
        else:
            out.extend(_rw_register(cur, [[f, k, v]]))
    return out


_STEPS = {
    "list-append": _list_append,
    "rw-register": _rw_register,
    "bank": _bank,
    None: _by_table,
}
