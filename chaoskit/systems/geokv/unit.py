"""`unit` mode ("unitised" deployment): every key has a home region.

The home region's primary (its first member in member-list order) orders every
operation on the key (so cas works), replicates each change synchronously to the
other members of its region and asynchronously to the other regions. Any node
forwards a request to the owner's primary. A cut home region makes its keys
unavailable while other regions' keys stay served.

Optional failover (`failover_s`): a node that has not reached a region's primary
for that long routes that region's keys to the next region (sorted order), whose
primary takes them over if it sees the same loss. Writes the old home acknowledged
but had not yet replicated are lost or overwritten (the RPO), and while both sides
serve, the key is not linearizable. Versions are (sequence, node); the higher wins
when the sides meet again.
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

from chaoskit.systems.geokv.clock import monotonic
from chaoskit.systems.geokv.engine import Engine, Result, ok, refused, unknown
from chaoskit.systems.geokv.ops import READ_ONLY, OpError, apply
from chaoskit.systems.geokv.replicate import Replicator

MAX_HOPS = 3


def merge_entry(key: str, old: Any, new: Any) -> Any:
    if old is None:
        return new
    return new if (new[0], new[1]) > (old[0], old[1]) else old


def valid_entry(key: Any, e: Any) -> bool:
    """[sequence, node, value]: anything else must not reach the state."""
    return (
        isinstance(key, str)
        and isinstance(e, list)
        and len(e) == 3
        and isinstance(e[0], int)
        and not isinstance(e[0], bool)
        and isinstance(e[1], str)
    )


class UnitEngine(Engine):
    mode = "unit"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.data: dict[str, list[Any]] = self.journal.load()  # key -> [seq, node, value]
        self._lock = threading.Lock()
        self._key_locks = [threading.Lock() for _ in range(64)]
        self.repl = Replicator(
            self.pool, "/internal/unit/apply", merge_entry, self.cfg.replication_delay_s
        )
        self._update_repl_targets()
        self._last_ok: dict[str, float] = {r: monotonic() for r in self.cfg.regions}
        self._stop = threading.Event()
        self._failed_over: set[str] = set()
        if self.cfg.failover_s is not None:
            threading.Thread(target=self._monitor, daemon=True, name="geokv-monitor").start()

    # ------------- placement -------------
    def home(self, key: str) -> str:
        if key in self.cfg.homes:
            return self.cfg.homes[key]
        regions = self.cfg.regions
        return regions[zlib.crc32(key.encode()) % len(regions)]

    def primary_of(self, region: str) -> str | None:
        for m in self.members:
            if self.cfg.region_of(m) == region:
                return m
        return None

    def backup_of(self, region: str) -> str:
        regions = self.cfg.regions
        return regions[(regions.index(region) + 1) % len(regions)]

    def down_for(self, region: str) -> float:
        return monotonic() - self._last_ok.get(region, monotonic())

    def owner(self, key: str) -> str:
        h = self.home(key)
        fo = self.cfg.failover_s
        if fo is None or h == self.cfg.region or self.down_for(h) < fo:
            if h in self._failed_over:
                self._failed_over.discard(h)
                self.log(f"region {h} reachable again: its keys go home")
            return h
        if h not in self._failed_over:
            self._failed_over.add(h)
            self.log(
                f"region {h} unreachable for {self.down_for(h):.1f}s: its keys go to {self.backup_of(h)}"
            )
        return self.backup_of(h)

    def _monitor(self) -> None:
        # Ping every other region's primary; the last success decides failover.
        while not self._stop.wait(0.25):
            futs = {}
            for r in self.cfg.regions:
                if r == self.cfg.region:
                    self._last_ok[r] = monotonic()
                    continue
                p = self.primary_of(r)
                if p is not None:
                    futs[r] = self.pool.submit(
                        lambda p=p: self.pool.call(p, "/health", {}, timeout_s=1.0)
                    )
            for r, fut in futs.items():
                try:
                    if fut.result(timeout=2.0).ok:
                        self._last_ok[r] = monotonic()
                except Exception:  # noqa: BLE001 - a failed ping is just "not reached"
                    pass

    def _update_repl_targets(self) -> None:
        # Async targets: every other member. Other regions get changes only this way;
        # members of this region also get them synchronously, and the async stream
        # catches up one that missed a synchronous copy (paused, restarting).
        self.repl.set_targets([m for m in self.members if m != self.cfg.id])

    # ------------- operations -------------
    def op(self, f: str, key: str, value: Any, hops: int, budget_s: float) -> Result:
        if self.frozen:
            return refused("node is frozen for a membership change")
        region = self.owner(key)
        primary = self.primary_of(region)
        if primary is None:
            return refused(f"key {key!r}: no member in its owner region {region!r}")
        if primary == self.cfg.id:
            return self._execute(f, key, value)
        if hops >= MAX_HOPS:
            return refused(f"key {key!r}: routing loop (gave up after {hops} hops)")
        probe = self.pool.suspect(primary)
        if probe and not self.pool.claim_probe(primary):
            # It timed out or refused lately: fail fast (unsent, so certainly no
            # effect) instead of making every request wait out a timeout; one
            # request at a time goes through as a probe, and its success ends this.
            return refused(
                f"key {key!r} (owner {region}): primary {primary} unreachable lately; not sent"
            )
        try:
            r = self.pool.call(
                primary,
                "/op",
                {"f": f, "key": key, "value": value},
                timeout_s=budget_s,
                idempotent=False,
                # The primary must answer before this hop gives up on it.
                headers={
                    "X-Geokv-Hops": str(hops + 1),
                    "X-Geokv-Budget-Ms": str(int(budget_s * 850)),
                },
            )
        finally:
            if probe:
                self.pool.release_probe(primary)
        if r.error is not None:
            msg = f"key {key!r} (owner {region}, primary {primary}): {r.error}"
            if r.error.definite or f in READ_ONLY:
                return refused(msg)
            return unknown(msg)
        return Result(r.status, r.body)

    def _execute(self, f: str, key: str, value: Any) -> Result:
        with self._key_locks[hash(key) % len(self._key_locks)]:
            cur = self.data.get(key)
            try:
                a = apply(f, cur[2] if cur else None, value)
            except OpError as e:
                return refused(str(e), 409)
            if not a.changed:
                return ok(a.result)
            entry = [(cur[0] if cur else 0) + 1, self.cfg.id, a.new]
            with self._lock:
                self.data[key] = entry
                self._persist(key)
            local = [
                m
                for m in self.members
                if m != self.cfg.id and self.cfg.region_of(m) == self.cfg.region
            ]
            if local:
                # Synchronous inside the region; a replica that does not answer in time
                # is caught up by the next change (the primary holds the data).
                self.pool.fanout(
                    local, "/internal/unit/apply", {"entries": {key: entry}}, len(local)
                )
            self.repl.push({key: entry})
        return ok(a.result)

    def internal(self, path: str, body: dict[str, Any]) -> Result:
        if path != "/internal/unit/apply":
            return super().internal(path, body)
        entries = body.get("entries")
        if not isinstance(entries, dict):
            return refused("'entries' must be an object", 400)
        bad = [k for k, e in entries.items() if not valid_entry(k, e)]
        if bad:
            return refused(
                f"malformed entries for {bad[:5]}: want key -> [sequence, node, value]", 400
            )
        self._merge(entries)
        return ok(len(entries))

    def _merge(self, entries: dict[str, Any]) -> None:
        with self._lock:
            for k, e in entries.items():
                self.data[k] = merge_entry(k, self.data.get(k), e)
                self._persist(k)

    def _persist(self, k: str) -> None:
        # Called under self._lock, before the change is acknowledged.
        if self.journal.append(k, self.data[k], len(self.data)):
            self.journal.rewrite(self.data)

    # ------------- admin -------------
    def set_members(self, members: list[str]) -> list[str]:
        added = super().set_members(members)
        self._update_repl_targets()
        if added:
            with self._lock:
                full = dict(self.data)
            self.repl.push(full, only=added)
        return added

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": self.mode, "data": dict(self.data)}

    def install(self, states: list[dict[str, Any]]) -> None:
        for s in states:
            data = s.get("data") or {}
            if not isinstance(data, dict) or not all(valid_entry(k, e) for k, e in data.items()):
                raise ValueError("snapshot 'data' holds malformed entries")
        for s in states:
            self._merge(s.get("data") or {})

    def roles(self) -> dict[str, list[str]]:
        prim = [p for r in self.cfg.regions if (p := self.primary_of(r))]
        return {"primary": prim}

    def health(self) -> dict[str, Any]:
        h = super().health()
        h["primaries"] = {r: self.primary_of(r) for r in self.cfg.regions}
        if self.cfg.failover_s is not None:
            h["down_for"] = {r: round(self.down_for(r), 2) for r in self.cfg.regions}
        return h

    def close(self) -> None:
        self._stop.set()
        self.repl.close()
        super().close()
