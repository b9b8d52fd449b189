"""`quorum` mode: every key is a CASPaxos register over the current members.

CASPaxos (Rystsov 2018) is single-decree Paxos re-run per change: a proposer
prepares a ballot at a majority, takes the value accepted under the highest ballot
among the replies, applies the client's change function to it and gets the result
accepted by a majority. Reads, writes, cas and set-add are all change functions,
so all four are linearizable (sets: an acknowledged add is in every later value).

Honesty of outcomes: a failure before any accept was sent is definite (the change
never left this node). Accepts go to the remote members first and to the local
acceptor only when they complete a majority, so a round that too few remote
members accepted left nothing anywhere and is retried; one that reached some but
not a majority is unknown, because a later proposer may adopt and finish it. A
read never has an effect, so a failed read is always definite.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from chaoskit.systems.geokv.clock import monotonic
from chaoskit.systems.geokv.engine import Engine, Result, ok, refused, unknown
from chaoskit.systems.geokv.ops import READ_ONLY, SET_TAG, OpError, apply, is_set
from chaoskit.systems.geokv.peers import Reply

ZERO = (0, "")
# A leader must have answered this node within this many seconds to be forwarded
# to; otherwise the node proposes itself (safe; only contention costs more).
LEADER_HEARD_S = 2.0


@dataclass
class _Pending:
    """One client operation waiting for (or driving) its key's next round."""

    f: str
    value: Any
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    batched: bool = False  # taken into a round: its fate is being decided
    drive: bool = False  # this op's thread runs the next round


@dataclass
class _KeyQueue:
    pending: list[_Pending] = field(default_factory=list)
    running: bool = False


def _b(x: Any) -> tuple[int, str]:
    return (int(x[0]), str(x[1]))


class QuorumEngine(Engine):
    mode = "quorum"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        # key -> [promised ballot, accepted ballot, accepted value]
        self.acc: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._counter = 0
        for k, (p, a, v) in self.journal.load().items():
            self.acc[k] = [_b(p), _b(a), v]
            self._counter = max(self._counter, _b(p)[0])
        self._queues: dict[str, _KeyQueue] = {}
        self._round_s = 0.0
        self._qlock = threading.Lock()

    # ---------------- acceptor ----------------
    def _prepare(self, key: str, ballot: tuple[int, str]) -> dict[str, Any]:
        with self._lock:
            e = self.acc.get(key) or [ZERO, ZERO, None]
            # >= so a retried (duplicate) prepare of the same ballot is answered again.
            if ballot >= e[0] and not self.frozen:
                if ballot > e[0]:
                    e[0] = ballot
                    self.acc[key] = e
                    self._persist(key, e)  # a promise must survive a restart
                return {"ok": True, "accepted": list(e[1]), "value": e[2]}
            return {"ok": False, "promised": list(e[0]), "frozen": self.frozen}

    def _accept(self, key: str, ballot: tuple[int, str], value: Any) -> dict[str, Any]:
        with self._lock:
            e = self.acc.get(key) or [ZERO, ZERO, None]
            if ballot >= e[0] and not self.frozen:
                self.acc[key] = [ballot, ballot, value]
                self._persist(key, self.acc[key])
                return {"ok": True}
            return {"ok": False, "promised": list(e[0]), "frozen": self.frozen}

    def _persist(self, key: str, e: list[Any]) -> None:
        # Called under self._lock, before the reply leaves.
        if self.journal.append(key, [list(e[0]), list(e[1]), e[2]], len(self.acc)):
            self.journal.rewrite({k: [list(x[0]), list(x[1]), x[2]] for k, x in self.acc.items()})

    def internal(self, path: str, body: dict[str, Any]) -> Result:
        try:
            key, ballot = str(body["key"]), _b(body["ballot"])
        except (KeyError, TypeError, ValueError, IndexError):
            return refused("prepare/accept need 'key' and 'ballot' [counter, node]", 400)
        if path == "/internal/prepare":
            return ok(self._prepare(key, ballot))
        if path == "/internal/accept":
            v = body.get("value")
            if is_set(v) and not isinstance(v[SET_TAG], list):
                return refused('a set value must be {"$set": [elements]}', 400)
            return ok(self._accept(key, ballot, v))
        return super().internal(path, body)

    # ---------------- proposer ----------------
    def _next_ballot(self) -> tuple[int, str]:
        with self._lock:
            self._counter += 1
            return (self._counter, self.cfg.id)

    def _observe(self, r: Reply) -> bool:
        """Learn a higher promise from a rejection; True if it was a conflict."""
        v = r.body.get("value") if r.ok else None
        if isinstance(v, dict) and v.get("ok") is False and "promised" in v:
            with self._lock:
                self._counter = max(self._counter, int(v["promised"][0]))
            return not v.get("frozen")
        return False

    @staticmethod
    def _why(replies: list[Reply], members: list[str]) -> str:
        got = {r.peer for r in replies}
        parts = [f"{r.peer}: {r.error}" for r in replies if r.error]
        parts += [f"{r.peer}: HTTP {r.status}" for r in replies if not r.error and r.status != 200]
        parts += [f"{m}: no answer in time" for m in members if m not in got]
        return "; ".join(parts[:6])

    @staticmethod
    def _good(r: Reply) -> bool:
        return r.ok and bool(r.body.get("value", {}).get("ok"))

    def op(self, f: str, key: str, value: Any, hops: int, budget_s: float) -> Result:
        members = list(self.members)
        if self.cfg.id not in members:
            return refused(f"node {self.cfg.id} is not a member (members: {', '.join(members)})")
        if hops == 0 and self.cfg.proposer == "leader" and len(members) > 1:
            t0 = monotonic()
            res = self._via_leader(f, key, value, members, budget_s)
            if res is not None:
                return res
            budget_s = max(0.05, budget_s - (monotonic() - t0))
        return self._propose(f, key, value, members, budget_s)

    def leader_of(self, key: str, members: list[str]) -> str:
        """The key's leader: its hash picks a start in the member list, and only
        members that answered this node lately (and have not timed out since) are
        eligible, so the nodes on one side of a cut agree on a live leader instead
        of dueling, and nobody forwards into a link that went silent."""
        n = len(members)
        start = zlib.crc32(key.encode()) % n
        for i in range(n):
            m = members[(start + i) % n]
            if m == self.cfg.id or (
                self.pool.heard_from(m, LEADER_HEARD_S) and not self.pool.suspect(m)
            ):
                return m
        return self.cfg.id

    def _via_leader(
        self, f: str, key: str, value: Any, members: list[str], budget_s: float
    ) -> Result | None:
        """Forward to the key's leader, so that one node runs the key's rounds and
        proposers do not duel (dueling leaves accepts at minorities: unknown
        outcomes). None = the leader certainly did nothing: propose here instead
        (any member may propose; the leader only avoids contention)."""
        leader = self.leader_of(key, members)
        if leader == self.cfg.id:
            return None
        t0 = monotonic()
        r = self.pool.call(
            leader,
            "/op",
            {"f": f, "key": key, "value": value},
            timeout_s=budget_s,
            idempotent=False,
            headers={"X-Geokv-Hops": "1", "X-Geokv-Budget-Ms": str(int(budget_s * 450))},
        )
        if r.error is not None:
            if r.error.definite:
                return None
            why = f"key {key!r}: its leader {leader}: {r.error}"
            return (
                refused(why) if f in READ_ONLY else unknown(why + "; it may or may not take effect")
            )
        if r.status == 503 and r.body.get("definite") and monotonic() - t0 < budget_s * 0.6:
            return None  # e.g. the leader is cut off from a majority we may still reach
        return Result(r.status, r.body)

    def _propose(self, f: str, key: str, value: Any, members: list[str], budget_s: float) -> Result:
        # Operations on one key queue up here; whoever drives takes the whole queue
        # into one CASPaxos round (applied in order), so a node's own clients never
        # duel with each other and a hot key costs one round per batch, not per op.
        p = _Pending(f, value, monotonic() + budget_s)
        with self._qlock:
            q = self._queues.setdefault(key, _KeyQueue())
            q.pending.append(p)
            if not q.running:
                q.running = p.drive = True
        if not p.drive:
            p.done.wait(max(0.0, p.deadline - monotonic()))
            with self._qlock:
                if p.result is None and not p.drive:
                    if not p.batched:
                        q.pending.remove(p)
                        return refused(
                            f"timed out queued behind other operations on key {key!r} (no effect)"
                        )
                    in_flight = True
                else:
                    in_flight = False
            if in_flight:
                why = "the budget ran out while its round was in flight"
                return (
                    refused(why)
                    if f in READ_ONLY
                    else unknown(why + "; it may or may not take effect")
                )
            if p.result is not None:
                return p.result
        self._drive(key, q, members)
        assert p.result is not None
        return p.result

    def _drive(self, key: str, q: _KeyQueue, members: list[str]) -> None:
        with self._qlock:
            batch, q.pending = q.pending, []
            for b in batch:
                b.batched = True
        try:
            results = self._round(key, batch, members, max(b.deadline for b in batch))
        except Exception as e:  # noqa: BLE001 - every waiter must get an answer
            results = [
                Result(500, {"ok": False, "error": f"internal error: {e!r}", "definite": False})
            ] * len(batch)
        nxt = None
        with self._qlock:
            for b, r in zip(batch, results, strict=True):
                b.result = r
            if q.pending:
                nxt = q.pending[0]
                nxt.drive = True  # hand the driver role over; it takes the queue
            else:
                q.running = False
                if self._queues.get(key) is q:
                    del self._queues[key]
        for b in batch:
            b.done.set()
        if nxt is not None:
            nxt.done.set()

    def _round(
        self, key: str, batch: list[_Pending], members: list[str], deadline: float
    ) -> list[Result]:
        """One CASPaxos change applying every op of `batch` in order; a result per op."""
        need = len(members) // 2 + 1
        remote = [m for m in members if m != self.cfg.id]
        attempt = 0
        while True:
            attempt += 1
            left = deadline - monotonic()
            if left <= 0.01:
                return [
                    refused(f"gave up after {attempt - 1} contended attempts (no effect)")
                ] * len(batch)
            ballot = self._next_ballot()
            body = {"key": key, "ballot": list(ballot)}
            replies = self.pool.fanout(
                members,
                "/internal/prepare",
                body,
                need,
                good=self._good,
                local=lambda b=ballot: Reply(
                    self.cfg.id, 200, {"ok": True, "value": self._prepare(key, b)}
                ),
                local_name=self.cfg.id,
                timeout_s=min(self.cfg.peer_timeout_s, left),
            )
            # Smoothed duration of a prepare round (the backoff's time unit).
            self._round_s = 0.8 * self._round_s + 0.2 * (monotonic() - (deadline - left))
            oks = [r.body["value"] for r in replies if self._good(r)]
            conflicts = sum(self._observe(r) for r in replies)
            if len(oks) < need:
                if conflicts and deadline - monotonic() > 0.05:
                    self._backoff(attempt)
                    continue
                why = (
                    f"no quorum: {len(oks)} of {len(members)} members promised, need {need} "
                    f"({self._why(replies, members)})"
                )
                return [refused(why)] * len(batch)
            top = max(_b(o["accepted"]) for o in oks)
            cur = next(o["value"] for o in oks if _b(o["accepted"]) == top)
            results: list[Result] = []
            changed = False
            for p in batch:
                try:
                    a = apply(p.f, cur, p.value)
                except OpError as e:
                    results.append(refused(str(e), 409))  # no effect, whatever happens next
                    continue
                cur, changed = a.new, changed or a.changed
                results.append(ok(a.result))
            if not changed and sum(_b(o["accepted"]) == top for o in oks) >= need:
                return results  # chosen already (a majority accepted it under one ballot)
            # Accept at the remote members first and locally only once they make a
            # majority with us: when too few remote members accept, nothing was
            # accepted anywhere and the round can be retried without doubt.
            left = deadline - monotonic()
            replies = self.pool.fanout(
                remote,
                "/internal/accept",
                {**body, "value": cur},
                need - 1,
                good=self._good,
                timeout_s=max(0.05, min(self.cfg.peer_timeout_s, left)),
                settle=True,
            )
            acks = sum(self._good(r) for r in replies)
            rejected = sum(self._observe(r) for r in replies)
            if acks >= need - 1:
                mine = self._accept(key, ballot, cur)
                if mine["ok"]:
                    return results
                self._observe(Reply(self.cfg.id, 200, {"ok": True, "value": mine}))
            elif acks == 0 and rejected == len(remote):
                if deadline - monotonic() > 0.05:
                    self._backoff(attempt)
                    continue
                return [refused(f"gave up after {attempt} contended attempts (no effect)")] * len(
                    batch
                )
            why = f"accept reached {acks} of {len(members)} members, need {need} ({self._why(replies, remote)})"
            return [
                r
                if r.status == 409
                else refused(why)
                if p.f in READ_ONLY
                # Some acceptor may hold the new value; a later proposer may finish it.
                else unknown(why + "; the change may or may not take effect")
                for p, r in zip(batch, results, strict=True)
            ]

    def _backoff(self, attempt: int) -> None:
        # Scaled to how long a round takes here (cross-region RTTs): a fixed few
        # milliseconds would let far-apart proposers duel forever.
        time.sleep(random.uniform(0, max(0.004, self._round_s) * min(attempt, 4)))

    # ---------------- admin ----------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mode": self.mode,
                "acc": {k: [list(e[0]), list(e[1]), e[2]] for k, e in self.acc.items()},
            }

    def install(self, states: list[dict[str, Any]]) -> None:
        """Replace this acceptor's state by the merge of the given snapshots (taken
        from frozen survivors): per key the value accepted under the highest ballot."""
        merged: dict[str, list[Any]] = {}
        top = 0
        for s in states:
            acc = s.get("acc") or {}
            if not isinstance(acc, dict):
                raise ValueError("snapshot 'acc' must map key -> [promised, accepted, value]")
            for k, (p, a, v) in acc.items():
                p, a = _b(p), _b(a)
                top = max(top, p[0])
                m = merged.get(k)
                if m is None:
                    merged[k] = [max(p, a), a, v]
                else:
                    m[0] = max(m[0], p, a)
                    if a > m[1]:
                        m[1], m[2] = a, v
        with self._lock:
            self.acc = merged
            self._counter = max(self._counter, top)
            self.journal.rewrite({k: [list(x[0]), list(x[1]), x[2]] for k, x in merged.items()})
