"""The dependency graph between transactions and the search for its cycles.

Inference (list_append.py, rw_register.py) adds ww / wr / rw edges with the facts
that justify them; this module adds real-time and per-process order, splits the
graph into strongly connected components (networkx) and, inside each component,
looks for the shortest cycle of each class, as Elle does:

  G0        only ww edges (write cycle)
  G1c       ww and wr edges, at least one wr (circular information flow)
  G-single  exactly one rw edge, the rest ww / wr (read skew, lost update)
  G-nonadjacent  two or more rw edges, no two of them adjacent (forbidden by
            snapshot isolation, which allows only cycles with two consecutive rw edges)
  G2-item   two or more rw edges, two of them adjacent (write skew)

A cycle that needs a real-time (or process-order) edge gets the suffix
`-realtime` (`-process`): it is forbidden only by strict (session) models.
Every cycle comes with its steps explained in words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.checker.isolation.txns import Txn

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
EDGE_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
# At most this many start edges are tried per component and class; the shortest
# cycle among them is kept (a breadth-first search finds the shortest through each).
MAX_TRIES = 24

Describe = Callable[[int, Txn, Txn, Any], str]


@dataclass
class Anomaly:
    """One anomaly: its class, the transactions involved (a cycle repeats its first
    transaction at the end), a sentence per step and a summary."""

    kind: str
    txns: list[int]
    explanation: str
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "txns": [f"T{t}" for t in self.txns],
            "explanation": self.explanation,
        }
        if self.steps:
            d["steps"] = self.steps
        return d


class DepGraph:
    """Edges between transaction ids, each a bit set of edge types, plus the first
    fact that justified each (edge, type)."""

    def __init__(self, txns: dict[int, Txn], describe: Describe) -> None:
        self.txns = txns
        self.describe = describe
        self.adj: dict[int, dict[int, int]] = {}
        self.why: dict[tuple[int, int, int], Any] = {}

    def add(self, a: int, b: int, kind: int, reason: Any = None) -> None:
        if a == b:
            return
        succ = self.adj.get(a)
        if succ is None:
            succ = self.adj[a] = {}
        bits = succ.get(b, 0)
        if not bits & kind:
            succ[b] = bits | kind
            self.why[(a, b, kind)] = reason

    def edge_count(self) -> int:
        return sum(len(s) for s in self.adj.values())

    # ------------------------------------------------------------ orders

    def add_realtime(self, txns: Iterable[Txn]) -> None:
        """T1 -> T2 when T1 completed ok before T2 was invoked: a transitive
        reduction (each invocation links from the completed transactions not yet
        followed by another completed one), linear in history length times
        concurrency."""
        events: list[tuple[int, int, Txn]] = []
        for t in txns:
            if t.type == "fail":
                continue
            events.append((t.call, 0, t))
            if t.ret is not None:
                events.append((t.ret, 1, t))
        events.sort(key=lambda e: (e[0], e[1]))
        frontier: set[int] = set()
        preds: dict[int, tuple[int, ...]] = {}
        for _, is_ret, t in events:
            if not is_ret:
                preds[t.id] = tuple(frontier)
                for p in frontier:
                    self.add(p, t.id, REALTIME)
            else:
                frontier.difference_update(preds.pop(t.id, ()))
                frontier.add(t.id)

    def add_process(self, txns: Iterable[Txn]) -> None:
        """T1 -> T2 when one process ran T1 (ok) and then T2."""
        last: dict[Any, int] = {}
        for t in sorted((t for t in txns if t.type != "fail"), key=lambda t: t.call):
            prev = last.get(t.process)
            if prev is not None:
                self.add(prev, t.id, PROCESS, t.process)
            if t.type == "ok":
                last[t.process] = t.id
            else:
                last.pop(t.process, None)

    # ------------------------------------------------------------ cycles

    def components(self) -> list[set[int]]:
        """Strongly connected components with more than one transaction."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_edges_from((a, b) for a, succ in self.adj.items() for b in succ)
        return [c for c in nx.strongly_connected_components(g) if len(c) > 1]

    def cycles(self, order_edges: int = 0) -> list[Anomaly]:
        """One shortest cycle per class per component. `order_edges` (REALTIME and/or
        PROCESS) says which order edges take part: only those were added."""
        found: list[Anomaly] = []
        base = WW | WR
        for comp in sorted(self.components(), key=min):
            # (start edge type, types free on the way back, a type the way back must use)
            searches = [(WW, WW, 0), (WR, base, 0), (RW, base, 0), (RW, base, RW)]
            for start in (PROCESS, REALTIME):
                if order_edges & start:
                    searches.append((start, base | RW | order_edges, 0))
            seen_kinds: set[str] = set()
            for start, free, counted in searches:
                cyc = self._shortest_cycle(comp, start, free, counted)
                if cyc is None:
                    continue
                name = _classify(cyc)
                if name in seen_kinds:
                    continue
                seen_kinds.add(name)
                found.append(self._anomaly(name, cyc))
        return found

    def _shortest_cycle(
        self, comp: set[int], start: int, free: int, counted: int
    ) -> list[tuple[int, int, int]] | None:
        best: list[tuple[int, int, int]] | None = None
        tries = 0
        for a in sorted(comp):
            for b, bits in self.adj.get(a, {}).items():
                if not bits & start or b not in comp:
                    continue
                tries += 1
                path = _path(self.adj, b, a, comp, free, counted)
                if path is not None and len({u for u, _, _ in path}) < len(path):
                    path = None  # a walk through some transaction twice: not a simple cycle
                if path is not None and (best is None or len(path) + 1 < len(best)):
                    best = [(a, b, start), *path]
                    if len(best) == 2:
                        return best
                if tries >= MAX_TRIES and best is not None:
                    return best
        return best

    def _anomaly(self, kind: str, steps: list[tuple[int, int, int]]) -> Anomaly:
        order = [a for a, _, _ in steps] + [steps[0][0]]
        sentences: list[str] = []
        out_steps: list[dict[str, Any]] = []
        for n, (a, b, kind_bit) in enumerate(steps):
            ta, tb = self.txns[a], self.txns[b]
            text = self._step_text(kind_bit, ta, tb)
            lead = "However," if n == len(steps) - 1 else "Then"
            sentences.append(f"{lead} {text}.")
            out_steps.append(
                {"from": ta.name, "to": tb.name, "type": EDGE_NAMES[kind_bit], "text": text}
            )
        names = ", ".join(
            f"{self.txns[t].name} (process {self.txns[t].process}, line {self.txns[t].line})"
            for t in dict.fromkeys(order)
        )
        explanation = (
            f"{' -> '.join(self.txns[t].name for t in order)}. Let {names}. "
            + " ".join(sentences)
            + f" So {self.txns[order[0]].name} must precede itself: a contradiction."
        )
        return Anomaly(kind, order, explanation, out_steps)

    def _step_text(self, kind: int, a: Txn, b: Txn) -> str:
        reason = self.why.get((a.id, b.id, kind))
        if kind == REALTIME:
            return f"{a.name} < {b.name}: {a.name} completed before {b.name} was invoked"
        if kind == PROCESS:
            return f"{a.name} < {b.name}: process {reason} ran {a.name} and then {b.name}"
        return f"{a.name} < {b.name}: " + self.describe(kind, a, b, reason)


def _path(
    adj: dict[int, dict[int, int]], src: int, dst: int, comp: set[int], free: int, counted: int
) -> list[tuple[int, int, int]] | None:
    """Shortest path src -> dst inside `comp` over edges with a `free` type; with
    `counted`, the path must also use at least one edge of that type."""
    need = 1 if counted else 0
    start = (src, 0)
    prev: dict[tuple[int, int], tuple[tuple[int, int], int]] = {start: (start, 0)}
    frontier = [start]
    goal = (dst, need)
    if start == goal:
        return []
    while frontier:
        nxt: list[tuple[int, int]] = []
        for state in frontier:
            u, c = state
            for v, bits in adj.get(u, {}).items():
                if v not in comp:
                    continue
                moves = []
                if bits & free:
                    moves.append(((v, c), _lowest(bits & free)))
                if counted and bits & counted:
                    moves.append(((v, 1), _lowest(bits & counted)))
                for s2, bit in moves:
                    if s2 in prev:
                        continue
                    prev[s2] = (state, bit)
                    if s2 == goal:
                        return _unwind(prev, start, s2)
                    nxt.append(s2)
        frontier = nxt
    return None


def _unwind(prev: dict, start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    s = end
    while s != start:
        p, bit = prev[s]
        out.append((p[0], s[0], bit))
        s = p
    out.reverse()
    return out


def _lowest(bits: int) -> int:
    return bits & -bits


def _classify(steps: list[tuple[int, int, int]]) -> str:
    kinds = [k for _, _, k in steps]
    rw = kinds.count(RW)
    if rw == 0:
        base = "G1c" if WR in kinds else "G0"
    elif rw == 1:
        base = "G-single"
    elif any(kinds[i] == RW == kinds[i - 1] for i in range(len(kinds))):
        base = "G2-item"
    else:
        base = "G-nonadjacent"
    if REALTIME in kinds:
        return base + "-realtime"
    return base + ("-process" if PROCESS in kinds else "")
