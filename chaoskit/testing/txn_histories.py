"""Build small transactional histories in code (tests, examples, benchmarks).

A transaction is written compactly, one micro-operation per token:

    "ax1 ay2"     append 1 to x, append 2 to y
    "rx12"        read x = [1, 2] (list-append: each digit one element; "rx" = empty)
    "wx1 ry_"     write 1 to x, read y = nil (rw-register: one value; "_" = nil)

Keys are single letters, values digits; for anything else pass the micro-operations
as a list of [f, key, value]. `txn_history` turns a sequence of transactions, each a
string / list or (process, type, string / list), into a history in which each
transaction is invoked and completed before the next begins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chaoskit.checker.history import History, Record, freeze, make_history

Spec = str | Sequence[Any]


def parse_txn(text: str, workload: str = "list-append") -> list[list[Any]]:
    """Micro-operations from the compact notation above."""
    mops: list[list[Any]] = []
    for tok in text.split():
        f, key, rest = tok[0], tok[1], tok[2:]
        if f == "a":
            mops.append(["append", key, int(rest)])
        elif f == "w":
            mops.append(["w", key, int(rest)])
        elif f == "r" and workload == "list-append":
            mops.append(["r", key, [int(c) for c in rest]])
        elif f == "r":
            mops.append(["r", key, None if rest in ("", "_") else int(rest)])
        else:
            raise ValueError(f"cannot read micro-operation {tok!r} (a, w or r, a key, values)")
    return mops


def txn_history(specs: Iterable[Any], workload: str = "list-append") -> History:
    """One serial invoke/complete pair per transaction; process defaults to the
    transaction's position (so no two share a process unless told)."""
    records: list[Record] = []
    for n, spec in enumerate(specs):
        process, typ, body = n, "ok", spec
        if isinstance(spec, tuple) and len(spec) == 3:
            process, typ, body = spec
        mops = parse_txn(body, workload) if isinstance(body, str) else [list(m) for m in body]
        invoked = [[f, k, None] if f == "r" else [f, k, v] for f, k, v in mops]
        done = mops if typ == "ok" else invoked
        for t, value in (("invoke", invoked), (typ, done)):
            i = len(records)
            records.append(
                Record(
                    index=i,
                    process=process,
                    type=t,
                    f="txn",
                    key=None,
                    value=freeze(value),
                    time=i * 1_000_000,
                    line=i + 1,
                )
            )
    return make_history(records)
