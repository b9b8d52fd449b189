"""The bank invariants: money moves between accounts but the total stays constant.

A bank history is transactions of reads `["r", account, balance]` and writes
`["w", account, balance]`: transfers read two accounts and write both, audits read
every account. Checked on `ok` transactions: an audit (a transaction that reads
every account before writing any) must sum to the total, and no read balance may
be negative or anything but an integer. The total is the sum written by the first
transaction that writes every account (the set-up), else the sum of the first audit.
"""

from __future__ import annotations

from typing import Any

from chaoskit.checker.isolation.graph import Anomaly
from chaoskit.checker.isolation.txns import Txn


def check(txns: list[Txn], total: int | None = None) -> tuple[list[Anomaly], dict[str, Any]]:
    """Anomalies (wrong-total, negative-balance, garbage-read) and facts (total, accounts,
    audits checked)."""
    ok = [t for t in txns if t.type == "ok"]
    accounts = {k for t in txns for _, k, _ in t.mops}
    out: list[Anomaly] = []
    audits: list[tuple[Txn, dict[Any, Any]]] = []
    for t in ok:
        reads: dict[Any, Any] = {}
        written: set[Any] = set()
        for f, k, v in t.mops:
            if f == "w":
                written.add(k)
            elif k not in written:
                reads.setdefault(k, v)
            if f == "r" and not (isinstance(v, int) and not isinstance(v, bool)):
                out.append(Anomaly("garbage-read", [t.id], f"{t.name} read account {k!r} = {v!r}"))
            elif f == "r" and v < 0:
                out.append(
                    Anomaly(
                        "negative-balance",
                        [t.id],
                        f"{t.name} read account {k!r} = {v}: a negative balance",
                    )
                )
        if total is None and written == accounts and accounts:
            total = sum(v for f, _, v in t.mops if f == "w" and isinstance(v, int))
        if set(reads) == accounts and all(isinstance(v, int) for v in reads.values()):
            audits.append((t, reads))
    if total is None and audits:
        total = sum(audits[0][1].values())
    for t, reads in audits:
        got = sum(reads.values())
        if got != total:
            out.append(
                Anomaly(
                    "wrong-total",
                    [t.id],
                    f"{t.name} read all {len(reads)} accounts summing to {got}, not the "
                    f"total {total} (balances {dict(sorted(reads.items(), key=repr))})",
                )
            )
    return out, {"total": total, "accounts": len(accounts), "audits": len(audits)}
