"""Consistency models: which anomalies each forbids and which order edges it adds.

Following Adya's hierarchy as Elle uses it: read committed forbids G0 and G1
(G1a, G1b, G1c); snapshot isolation also forbids G-single and lost updates but
allows G2-item (write skew: a cycle with two adjacent rw edges); repeatable read and serializable forbid G2-item too.
`strict-` models add real-time order (a transaction that completed before another
began precedes it), `session-` models add each process's order (Elle's "strong
session" models). Observations no database may produce (internal inconsistency,
garbage or duplicate reads, incompatible orders) are forbidden by every model. The
bank invariants (a read of all accounts sums to the total, no balance below zero)
hold from snapshot isolation up: read committed permits the read skew and lost
updates that break them.
"""

from __future__ import annotations

from chaoskit.checker.isolation.graph import PROCESS, REALTIME

ALWAYS = frozenset(
    {"internal", "garbage-read", "duplicate-elements", "incompatible-order", "G0", "G1a"}
)
READ_COMMITTED = ALWAYS | {"G1b", "G1c"}
SNAPSHOT = READ_COMMITTED | {
    "G-single",
    "G-nonadjacent",
    "lost-update",
    "wrong-total",
    "negative-balance",
}
SERIALIZABLE = SNAPSHOT | {"G2-item"}


def _ordered(base: frozenset[str], suffix: str) -> frozenset[str]:
    cycles = {"G0", "G1c", "G-single", "G-nonadjacent", "G2-item"}
    return base | {c + suffix for c in cycles if c in base}


# name -> (forbidden anomaly classes, order edges added to the graph)
CONSISTENCY: dict[str, tuple[frozenset[str], int]] = {
    "read-committed": (READ_COMMITTED, 0),
    "snapshot-isolation": (SNAPSHOT, 0),
    "repeatable-read": (SERIALIZABLE, 0),
    "serializable": (SERIALIZABLE, 0),
    "session-snapshot-isolation": (_ordered(SNAPSHOT, "-process"), PROCESS),
    "session-serializable": (_ordered(SERIALIZABLE, "-process"), PROCESS),
    "strict-snapshot-isolation": (_ordered(SNAPSHOT, "-realtime"), REALTIME),
    "strict-serializable": (_ordered(SERIALIZABLE, "-realtime"), REALTIME),
}
