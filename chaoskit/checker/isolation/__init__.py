"""Transactional isolation checking in the manner of Elle (Kingsbury & Alvaro, VLDB 2020).

`check_isolation(history, "list-append", "serializable")` reads the `f: "txn"`
operations (txns.py), infers the dependency graph for the workload (list_append.py,
rw_register.py; bank.py checks its invariants instead), adds real-time or process
order when the consistency model asks (consistency.py), finds cycles (graph.py)
and returns the anomalies the model forbids, each explained in words.
See docs/checker.md.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.checker.history import History
from chaoskit.checker.isolation.consistency import CONSISTENCY
from chaoskit.checker.isolation.graph import REALTIME, Anomaly, DepGraph
from chaoskit.checker.isolation.txns import Txn, transactions

Infer = Callable[[list[Txn], "str | None"], tuple[DepGraph, list[Anomaly]]]


def _list_append() -> Infer:
    from chaoskit.checker.isolation.list_append import infer

    return infer


def _rw_register() -> Infer:
    from chaoskit.checker.isolation.rw_register import infer

    return infer


# The transactional workloads the checker understands: name -> (loader of the
# inference, the write micro-operation). Bank has no graph: its invariants are checked.
TXN_MODELS: dict[str, tuple[Callable[[], Infer] | None, str]] = {
    "list-append": (_list_append, "append"),
    "rw-register": (_rw_register, "w"),
    "bank": (None, "w"),
}


def txn_workload(history: History, model: str) -> str | None:
    """The transactional workload to check `history` as: `model` when it names one;
    for "auto", list-append when a transaction appends, rw-register when one writes
    (None when the history holds no transaction)."""
    if model in TXN_MODELS:
        return model
    if model != "auto" or not history.ops or history.ops[0].f != "txn":
        return None
    for op in history.ops:
        for mop in op.value or ():
            if isinstance(mop, tuple) and mop and mop[0] == "append":
                return "list-append"
            if isinstance(mop, tuple) and mop and mop[0] == "w":
                return "rw-register"
    return "list-append"


@dataclass
class IsolationResult:
    """`verdict` is "valid", "invalid" (an anomaly the model forbids) or "unknown"
    (no transaction committed: nothing was checked). `anomalies` are the forbidden
    ones; `allowed` are found but permitted by the model (e.g. G2-item under
    snapshot isolation)."""

    workload: str
    consistency: str
    verdict: str
    anomalies: list[Anomaly]
    allowed: list[Anomaly]
    txns: int
    counts: dict[str, int]
    elapsed_s: float
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        return sorted({a.kind for a in self.anomalies})

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "consistency": self.consistency,
            "verdict": self.verdict,
            "anomaly_types": self.kinds,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "allowed": [a.to_dict() for a in self.allowed],
            "txns": self.txns,
            "counts": self.counts,
            "elapsed_s": round(self.elapsed_s, 6),
            "reason": self.reason,
            **({"facts": self.facts} if self.facts else {}),
        }

    def summary(self) -> str:
        kinds = Counter(a.kind for a in self.anomalies)
        found = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "no anomaly"
        return f"{self.verdict} ({self.workload}, {self.consistency}, {self.txns} txns: {found})"


def check_isolation(
    history: History, workload: str, consistency: str = "serializable"
) -> IsolationResult:
    """Check a transactional history. Raises ValueError for an unknown workload or
    model, HistoryError for a malformed history."""
    if workload not in TXN_MODELS:
        raise ValueError(f"unknown workload {workload!r}; valid: {', '.join(TXN_MODELS)}")
    if consistency not in CONSISTENCY:
        raise ValueError(
            f"unknown consistency model {consistency!r}; valid: {', '.join(CONSISTENCY)}"
        )
    t0 = time.perf_counter()
    loader, write_f = TXN_MODELS[workload]
    txns = transactions(history, (write_f,))
    forbidden, order_edges = CONSISTENCY[consistency]
    facts: dict[str, Any] = {}
    if loader is None:
        from chaoskit.checker.isolation import bank

        found, facts = bank.check(txns)
    else:
        graph, found = loader()(txns, history.path)
        if order_edges:
            add = graph.add_realtime if order_edges & REALTIME else graph.add_process
            add(txns)
        found = found + graph.cycles(order_edges)
        facts = {"edges": graph.edge_count()}
    counts = dict(Counter(t.type for t in txns))
    bad = [a for a in found if a.kind in forbidden]
    allowed = [a for a in found if a.kind not in forbidden]
    reason = ""
    if bad:
        verdict = "invalid"
    elif not counts.get("ok"):
        verdict = "unknown"
        reason = f"nothing was checked: no transaction committed ({len(txns)} txn(s))"
    else:
        verdict = "valid"
    return IsolationResult(
        workload=workload,
        consistency=consistency,
        verdict=verdict,
        anomalies=bad,
        allowed=allowed,
        txns=len(txns),
        counts=counts,
        elapsed_s=time.perf_counter() - t0,
        reason=reason,
        facts=facts,
    )


__all__ = ["TXN_MODELS", "Anomaly", "IsolationResult", "check_isolation"]
