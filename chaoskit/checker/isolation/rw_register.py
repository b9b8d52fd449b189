"""Dependency inference for rw-register histories (Elle's rw-register).

Written values are unique per key, so a read names its writer (wr). A register's
version order is only partly observable; two sound sources are used:

  initial state  nil precedes every written version
  write follows read  a transaction that read k = v1 and then wrote k = v2 put
                v2 after v1

For each known pair v1 < v2: ww from the writer of v1 to the writer of v2, and rw
from every transaction that read v1 to the writer of v2. Observations without a
cycle: G1a (a read of a failed write), G1b (a read of a value its writer later
overwrote in the same transaction), internal inconsistency, garbage reads (a value
nobody wrote) and lost updates (two transactions that read the same version of k
and both wrote k).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chaoskit.checker.history import HistoryError
from chaoskit.checker.isolation.graph import RW, WR, WW, Anomaly, DepGraph
from chaoskit.checker.isolation.txns import Txn


def _v(v: Any) -> str:
    return "the initial state (nil)" if v is None else repr(v)


def describe(kind: int, a: Txn, b: Txn, reason: Any) -> str:
    if kind == WW:
        k, v1, v2 = reason
        return f"{b.name} read {k!r} = {v1!r}, written by {a.name}, and overwrote it with {v2!r}"
    if kind == WR:
        k, v = reason
        return f"{b.name} read {k!r} = {v!r}, written by {a.name}"
    k, v1, v2 = reason
    return f"{a.name} read {k!r} = {_v(v1)}, which {b.name} overwrote with {v2!r}"


def infer(txns: list[Txn], path: str | None = None) -> tuple[DepGraph, list[Anomaly]]:
    """The ww/wr/rw graph of `txns` and the anomalies seen without a cycle."""
    by_id = {t.id: t for t in txns}
    anomalies: list[Anomaly] = []
    writer, final = _writers(txns, path)
    ok = [t for t in txns if t.type == "ok"]
    graph = DepGraph(by_id, describe)

    ext_reads: dict[int, dict[Any, Any]] = {}
    readers: dict[tuple[Any, Any], list[Txn]] = defaultdict(list)
    for t in ok:
        anomalies.extend(_internal(t))
        ext: dict[Any, Any] = {}
        touched: set[Any] = set()
        for f, k, v in t.mops:
            if f == "r":
                anomalies.extend(_read_anomalies(t, k, v, writer, final))
                if k not in touched:
                    ext[k] = v
                    readers[(k, v)].append(t)
            touched.add(k)
        ext_reads[t.id] = ext
        for k, v in ext.items():
            w = writer.get((k, v))
            if w is not None and w is not t and w.type != "fail" and (k, v) in final:
                graph.add(w.id, t.id, WR, (k, v))

    # version order: nil < every version; v1 < v2 when a transaction read v1, then wrote v2
    writers_of: dict[Any, list[tuple[Txn, Any]]] = defaultdict(list)
    for (k, v), w in writer.items():
        if w.type != "fail" and (k, v) in final:
            writers_of[k].append((w, v))
    for k, ws in writers_of.items():
        for r in readers.get((k, None), ()):
            for w, v in ws:
                graph.add(r.id, w.id, RW, (k, None, v))
    for t in [t for t in txns if t.type != "fail"]:
        ext = ext_reads.get(t.id, {})
        for k, v2 in _final_writes(t).items():
            if k not in ext or ext[k] is None:
                continue
            v1 = ext[k]
            w1 = writer.get((k, v1))
            if w1 is not None and w1.type != "fail":
                graph.add(w1.id, t.id, WW, (k, v1, v2))
            for r in readers.get((k, v1), ()):
                graph.add(r.id, t.id, RW, (k, v1, v2))
    anomalies.extend(_lost_updates(ok, ext_reads))
    return graph, anomalies


def _final_writes(t: Txn) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for f, k, v in t.mops:
        if f == "w":
            out[k] = v
    return out


def _writers(txns: list[Txn], path: str | None) -> tuple[dict, set]:
    writer: dict[tuple[Any, Any], Txn] = {}
    final: set[tuple[Any, Any]] = set()
    for t in txns:
        for f, k, v in t.mops:
            if f != "w":
                continue
            if v is None:
                raise HistoryError(
                    t.line, f"{t.name} writes nil to {k!r}: nil is the initial state", path
                )
            other = writer.get((k, v))
            if other is not None and other is not t:
                raise HistoryError(
                    t.line,
                    f"{t.name} writes {v!r} to {k!r}, which {other.name} (line {other.line}) "
                    "wrote too: rw-register needs every written value unique per key",
                    path,
                )
            writer[(k, v)] = t
        final.update(_final_writes(t).items())
    return writer, final


def _internal(t: Txn) -> list[Anomaly]:
    """A read after the transaction's own write of the key must return that write.
    (Two reads that differ are a non-repeatable read, which read committed permits:
    not an internal inconsistency.)"""
    out: list[Anomaly] = []
    mine: dict[Any, Any] = {}
    for n, (f, k, v) in enumerate(t.mops):
        if f == "w":
            mine[k] = v
        elif k in mine and mine[k] != v:
            out.append(
                Anomaly(
                    "internal",
                    [t.id],
                    f"{t.name} read {k!r} = {v!r} (micro-op {n}) after writing {mine[k]!r} itself",
                )
            )
    return out


def _read_anomalies(t: Txn, k: Any, v: Any, writer: dict, final: set) -> list[Anomaly]:
    if v is None:
        return []
    w = writer.get((k, v))
    if w is None:
        return [Anomaly("garbage-read", [t.id], f"{t.name} read {k!r} = {v!r}, which nobody wrote")]
    if w is t:
        return []
    if w.type == "fail":
        return [
            Anomaly(
                "G1a",
                [t.id, w.id],
                f"{t.name} read {k!r} = {v!r}, written by {w.name} (line {w.line}), which "
                "failed (aborted read)",
            )
        ]
    if (k, v) not in final:
        return [
            Anomaly(
                "G1b",
                [t.id, w.id],
                f"{t.name} read {k!r} = {v!r}, an intermediate write of {w.name} (line "
                f"{w.line}), which wrote {k!r} again before committing (intermediate read)",
            )
        ]
    return []


def _lost_updates(ok: list[Txn], ext_reads: dict[int, dict]) -> list[Anomaly]:
    groups: dict[tuple[Any, Any], list[Txn]] = defaultdict(list)
    for t in ok:
        ext = ext_reads[t.id]
        for k in _final_writes(t):
            if k in ext:
                groups[(k, ext[k])].append(t)
    return [
        Anomaly(
            "lost-update",
            [t.id for t in ts],
            f"{', '.join(t.name for t in ts)} all read {k!r} = {_v(v)} and each wrote {k!r}: "
            "all committed: each overwrote a version another had already overwritten "
            "(lost update; first-committer-wins would have aborted all but one)",
        )
        for (k, v), ts in groups.items()
        if len(ts) > 1
    ]
