"""Dependency inference for list-append histories (Elle's list-append).

Every appended value is unique per key, so a read of a list names the transaction
behind each element, and the longest read of a key gives its version order (every
other read must be a prefix of it, or the key has incompatible orders). From that:

  ww  T1 -> T2  T2 appended the element right after T1's in the version order
  wr  T1 -> T2  T2's read of k ends with T1's append
  rw  T1 -> T2  T1's read of k stops just before T2's append (or T1 read k empty
                and T2 appended to k)

Observations that need no cycle are reported directly: G1a (a read of an append
whose transaction failed), G1b (a read ending in an append its transaction later
followed with another append to the key), internal inconsistency (a read that
disagrees with the transaction's own earlier reads and appends), duplicate
elements, garbage (an element nobody appended), incompatible orders and lost
updates (two transactions that read the same version of k and both appended to it).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chaoskit.checker.history import HistoryError
from chaoskit.checker.isolation.graph import RW, WR, WW, Anomaly, DepGraph
from chaoskit.checker.isolation.txns import Txn


def describe(kind: int, a: Txn, b: Txn, reason: Any) -> str:
    if kind == WW:
        k, v1, v2 = reason
        return f"{b.name} appended {v2!r} to {k!r} right after {a.name} appended {v1!r}"
    if kind == WR:
        k, v = reason
        return f"{b.name} read {k!r} including {a.name}'s append of {v!r}"
    k, last, nxt = reason
    seen = "empty" if last is None else f"up to {last!r}"
    return (
        f"{a.name} read {k!r} {seen}, without {b.name}'s append of {nxt!r}, "
        f"so {b.name} appended {nxt!r} to {k!r} after {a.name} read it"
    )


def infer(txns: list[Txn], path: str | None = None) -> tuple[DepGraph, list[Anomaly]]:
    """The ww/wr/rw graph of `txns` and the anomalies seen without a cycle."""
    by_id = {t.id: t for t in txns}
    anomalies: list[Anomaly] = []
    writer, final = _writers(txns, path)
    ok = [t for t in txns if t.type == "ok"]

    reads: dict[Any, list[tuple[Txn, tuple]]] = defaultdict(list)
    for t in ok:
        anomalies.extend(_internal(t))
        for f, k, v in t.mops:
            if f == "r":
                reads[k].append((t, tuple(v) if v is not None else ()))

    graph = DepGraph(by_id, describe)
    orders: dict[Any, tuple] = {}
    for k, key_reads in reads.items():
        order = max((r for _, r in key_reads), key=len)
        anomalies.extend(_read_anomalies(k, key_reads, order, writer, final, by_id))
        order = orders[k] = _extend(k, order, writer)
        _edges(graph, k, order, writer)
    _read_edges(graph, ok, orders, writer)
    anomalies.extend(_lost_updates(ok))
    return graph, anomalies


def _writers(txns: list[Txn], path: str | None) -> tuple[dict, set]:
    """(key, value) -> the transaction that appended it; the set of (key, value)
    that were their transaction's last append to the key."""
    writer: dict[tuple[Any, Any], Txn] = {}
    final: set[tuple[Any, Any]] = set()
    for t in txns:
        last: dict[Any, Any] = {}
        for f, k, v in t.mops:
            if f != "append":
                continue
            other = writer.get((k, v))
            if other is not None:
                raise HistoryError(
                    t.line,
                    f"{t.name} appends {v!r} to {k!r}, which {other.name} (line "
                    f"{other.line}) appended too: list-append needs every appended value "
                    "unique per key",
                    path,
                )
            writer[(k, v)] = t
            last[k] = v
        final.update(last.items())
    return writer, final


def _internal(t: Txn) -> list[Anomaly]:
    """A read must end with the transaction's own appends since its previous read of
    the key, and extend that previous read (lists only grow; under read committed a
    later read may show more of other transactions' appends, never less)."""
    out: list[Anomaly] = []
    state: dict[Any, tuple[list | None, list]] = {}  # key -> (last read, own appends since)
    appended: dict[Any, list] = defaultdict(list)
    for n, (f, k, v) in enumerate(t.mops):
        if f == "append":
            prev, mine = state.get(k, (None, []))
            state[k] = (prev, [*mine, v])
            appended[k].append(v)
            continue
        got = list(v) if v is not None else []
        later = {x for f2, k2, x in t.mops[n + 1 :] if f2 == "append" and k2 == k}
        future = [x for x in got if x in later and x not in appended[k]]
        prev, mine = state.get(k, (None, []))
        if future:
            why = f"holds {future[0]!r}, which {t.name} itself appends only later"
        elif mine and got[len(got) - len(mine) :] != mine:
            why = f"does not end with its own appends {mine}"
        elif prev is not None and got[: len(prev)] != prev:
            why = f"does not extend its own earlier read {prev}"
        else:
            why = ""
        if why:
            out.append(
                Anomaly(
                    "internal", [t.id], f"{t.name} read {k!r} = {got} (micro-op {n}), which {why}"
                )
            )
        state[k] = (got, [])
    return out


def _read_anomalies(
    k: Any,
    key_reads: list[tuple[Txn, tuple]],
    order: tuple,
    writer: dict,
    final: set,
    by_id: dict,
) -> list[Anomaly]:
    out: list[Anomaly] = []
    incompatible = None
    for t, r in key_reads:
        n = len(r)
        if n and order[:n] != r and incompatible is None:
            incompatible = Anomaly(
                "incompatible-order",
                [t.id],
                f"{t.name} read {k!r} = {list(r)}, which is not a prefix of {list(order)} "
                f"read by another transaction: no single order of appends to {k!r} explains both",
            )
        if n and len(set(r)) != n:
            dup = next(x for i, x in enumerate(r) if x in r[:i])
            out.append(
                Anomaly(
                    "duplicate-elements",
                    [t.id],
                    f"{t.name} read {k!r} = {list(r)}: {dup!r} appears more than once, "
                    "though it was appended once",
                )
            )
        for x in r:
            w = writer.get((k, x))
            if w is None:
                out.append(
                    Anomaly(
                        "garbage-read",
                        [t.id],
                        f"{t.name} read {k!r} = {list(r)}: no transaction appended {x!r} to {k!r}",
                    )
                )
            elif w.type == "fail":
                out.append(
                    Anomaly(
                        "G1a",
                        [t.id, w.id],
                        f"{t.name} read {k!r} = {list(r)}, which holds {x!r}, appended by "
                        f"{w.name} (line {w.line}), which failed (aborted read)",
                    )
                )
        if n:
            w = writer.get((k, r[-1]))
            if w is not None and w is not t and (k, r[-1]) not in final:
                out.append(
                    Anomaly(
                        "G1b",
                        [t.id, w.id],
                        f"{t.name} read {k!r} = {list(r)}, ending in {r[-1]!r}, an intermediate "
                        f"append of {w.name} (line {w.line}), which appended to {k!r} again "
                        "afterwards (intermediate read)",
                    )
                )
    if incompatible is not None:
        out.append(incompatible)
    return out


def _edges(graph: DepGraph, k: Any, order: tuple, writer: dict) -> None:
    """ww edges along the version order of `k`."""
    prev = None
    for x in order:
        w = writer.get((k, x))
        if w is None or w.type == "fail":
            prev = None
            continue
        if prev is not None:
            graph.add(prev[0].id, w.id, WW, (k, prev[1], x))
        prev = (w, x)


def _extend(k: Any, order: tuple, writer: dict) -> tuple:
    """The longest read, followed by the appends its last writer made to `k` after
    the last element seen (they can only have come later)."""
    if not order:
        return order
    w = writer.get((k, order[-1]))
    if w is None:
        return order
    mine = [v for f, k2, v in w.mops if f == "append" and k2 == k]
    tail = mine[mine.index(order[-1]) + 1 :]
    seen = set(order)
    return order + tuple(v for v in tail if v not in seen)


def _read_edges(graph: DepGraph, ok: list[Txn], orders: dict, writer: dict) -> None:
    """wr and rw edges from each transaction's external reads (a read of a key
    before the transaction's own first append to it)."""
    positions: dict[Any, dict[Any, int]] = {}
    unseen: dict[Any, list[tuple[Txn, Any]]] = {}
    for (k, x), w in writer.items():
        if w.type == "fail":
            continue
        if k not in positions:
            positions[k] = {v: i for i, v in enumerate(orders.get(k, ()))}
        if x not in positions[k]:
            unseen.setdefault(k, []).append((w, x))
    for k, ws in unseen.items():
        order = orders.get(k, ())
        last = writer.get((k, order[-1])) if order else None
        if last is not None and last.type != "fail":
            for w2, x in ws:
                graph.add(last.id, w2.id, WW, (k, order[-1], x))
    for t in ok:
        done: set[Any] = set()
        for f, k, v in t.mops:
            if k in done:
                continue
            done.add(k)
            if f != "r":
                continue
            r = tuple(v) if v is not None else ()
            order = orders[k]
            if r:
                w = writer.get((k, r[-1]))
                if w is not None and w.type != "fail":
                    graph.add(w.id, t.id, WR, (k, r[-1]))
                pos = positions.get(k, {}).get(r[-1])
                if pos is None or pos != len(r) - 1:
                    continue
                if pos + 1 >= len(order):
                    # read the last version seen: every unseen append came after it
                    for w2, x in unseen.get(k, ()):
                        graph.add(t.id, w2.id, RW, (k, r[-1], x))
                    continue
                nxt = order[pos + 1]
                w2 = writer.get((k, nxt))
                if w2 is not None and w2.type != "fail":
                    graph.add(t.id, w2.id, RW, (k, r[-1], nxt))
                continue
            # read the initial (empty) state: every append to k came after it
            if order:
                w2 = writer.get((k, order[0]))
                if w2 is not None and w2.type != "fail":
                    graph.add(t.id, w2.id, RW, (k, None, order[0]))
            for w2, x in unseen.get(k, ()):
                graph.add(t.id, w2.id, RW, (k, None, x))


def _lost_updates(ok: list[Txn]) -> list[Anomaly]:
    """Transactions that read the same version of a key and then appended to it."""
    groups: dict[tuple[Any, tuple], list[Txn]] = defaultdict(list)
    for t in ok:
        first_read: dict[Any, tuple] = {}
        written: set[Any] = set()
        for f, k, v in t.mops:
            if k in written:
                continue
            if f == "r":
                first_read.setdefault(k, tuple(v) if v is not None else ())
            else:
                written.add(k)
                if k in first_read:
                    groups[(k, first_read[k])].append(t)
    out = []
    for (k, version), ts in groups.items():
        if len(ts) < 2:
            continue
        names = ", ".join(t.name for t in ts)
        last = f"ending in {version[-1]!r}" if version else "empty"
        out.append(
            Anomaly(
                "lost-update",
                [t.id for t in ts],
                f"{names} all read {k!r} at the same version ({last}) and each appended to "
                "it, and all committed: each updated a version another had already updated "
                "(lost update; first-committer-wins would have aborted all but one)",
            )
        )
    return out
