"""`lww` mode: active-active, acknowledged at once, replicated asynchronously.

Registers resolve conflicts by last writer wins on (wall-clock time.time(), node),
so a node whose clock is skewed (libfaketime) or a partition loses updates while
every request is acknowledged. Sets are grow-only and merge by union: an
acknowledged add is never lost once partitions heal. cas compares against the
local copy only. Registers (read/write/cas) and sets (add/read-all) live in
separate namespaces here ("r:key" and "s:key" internally).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chaoskit.systems.geokv.engine import Engine, Result, ok, refused
from chaoskit.systems.geokv.replicate import Replicator


def merge_entry(key: str, old: Any, new: Any) -> Any:
    if old is None:
        return new
    if key.startswith("s:"):
        out = list(old)
        for x in new:
            if x not in out:
                out.append(x)
        return out
    # [ts, node, value]: the later (time, node) wins.
    return new if (new[0], new[1]) > (old[0], old[1]) else old


def valid_entry(key: Any, e: Any) -> bool:
    """A replicated entry this node can merge (a bad one must not poison the state)."""
    if not isinstance(key, str):
        return False
    if key.startswith("s:"):
        return isinstance(e, list) and all(not isinstance(x, dict | list) for x in e)
    return (
        key.startswith("r:")
        and isinstance(e, list)
        and len(e) == 3
        and isinstance(e[0], int | float)
        and not isinstance(e[0], bool)
        and isinstance(e[1], str)
    )


class LwwEngine(Engine):
    mode = "lww"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.data: dict[str, Any] = self.journal.load()
        self._lock = threading.Lock()
        self.repl = Replicator(
            self.pool, "/internal/lww/apply", merge_entry, self.cfg.replication_delay_s
        )
        self.repl.set_targets([m for m in self.members if m != self.cfg.id])

    def op(self, f: str, key: str, value: Any, hops: int, budget_s: float) -> Result:
        if self.frozen:
            return refused("node is frozen for a membership change")
        if f == "read":
            e = self.data.get("r:" + key)
            return ok(e[2] if e else None)
        if f == "read-all":
            return ok(list(self.data.get("s:" + key) or []))
        with self._lock:
            if f == "add":
                k, e = "s:" + key, [value]
            else:
                k = "r:" + key
                cur = self.data.get(k)
                new = value
                if f == "cas":
                    expected, new = value
                    if (cur[2] if cur else None) != expected:
                        return refused(
                            f"cas mismatch: current value is {cur[2] if cur else None!r}", 409
                        )
                # The wall clock (skewable by libfaketime) stamps the write; an older
                # stamp than the stored one loses silently, yet the write is acked.
                e = [time.time(), self.cfg.id, new]
            self.data[k] = merge_entry(k, self.data.get(k), e)
            self._persist(k)
        self.repl.push({k: e})
        return ok(value)

    def internal(self, path: str, body: dict[str, Any]) -> Result:
        if path != "/internal/lww/apply":
            return super().internal(path, body)
        entries = body.get("entries")
        if not isinstance(entries, dict):
            return refused("'entries' must be an object", 400)
        bad = [k for k, e in entries.items() if not valid_entry(k, e)]
        if bad:
            return refused(
                f"malformed entries for {bad[:5]}: want r:key -> [time, node, value] or s:key -> [elements]",
                400,
            )
        self._merge(entries)
        return ok(len(entries))

    def _merge(self, entries: dict[str, Any]) -> None:
        with self._lock:
            for k, e in entries.items():
                self.data[k] = merge_entry(k, self.data.get(k), e)
                self._persist(k)

    def _persist(self, k: str) -> None:
        if self.journal.append(k, self.data[k], len(self.data)):
            self.journal.rewrite(self.data)

    def set_members(self, members: list[str]) -> list[str]:
        added = super().set_members(members)
        self.repl.set_targets([m for m in members if m != self.cfg.id])
        if added:
            with self._lock:
                full = dict(self.data)
            self.repl.push(full, only=added)  # catch returning members up
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

    def health(self) -> dict[str, Any]:
        h = super().health()
        h["replication_backlog"] = self.repl.lag()
        return h

    def close(self) -> None:
        self.repl.close()
        super().close()
