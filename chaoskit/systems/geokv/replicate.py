"""Asynchronous replication: one sender thread per peer, a pending map per peer.

Pending changes are kept per key (merged, so memory is bounded by the key count,
not by the write rate) and re-sent until the peer acknowledges them, so a healed
partition converges. `delay_s` holds every batch back (the replication lag knob).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chaoskit.systems.geokv.peers import PeerPool

Merge = Callable[[str, Any, Any], Any]  # (key, old entry or None, new entry) -> entry


class Replicator:
    def __init__(self, pool: PeerPool, path: str, merge: Merge, delay_s: float = 0.0) -> None:
        self.pool = pool
        self.path = path
        self.merge = merge
        self.delay_s = delay_s
        self._cv = threading.Condition()
        self._pending: dict[str, dict[str, Any]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stopped = False

    def targets(self) -> list[str]:
        with self._cv:
            return list(self._pending)

    def set_targets(self, peers: list[str]) -> None:
        with self._cv:
            for p in list(self._pending):
                if p not in peers:
                    del self._pending[p]  # no longer a member: stop sending to it
            for p in peers:
                self._pending.setdefault(p, {})
                t = self._threads.get(p)
                if t is None or not t.is_alive():
                    t = threading.Thread(
                        target=self._run, args=(p,), daemon=True, name=f"geokv-repl-{p}"
                    )
                    self._threads[p] = t
                    t.start()
            self._cv.notify_all()

    def push(self, entries: dict[str, Any], only: list[str] | None = None) -> None:
        with self._cv:
            for peer, pend in self._pending.items():
                if only is not None and peer not in only:
                    continue
                for k, e in entries.items():
                    pend[k] = self.merge(k, pend.get(k), e)
            self._cv.notify_all()

    def lag(self) -> dict[str, int]:
        with self._cv:
            return {p: len(v) for p, v in self._pending.items()}

    def close(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()

    def _run(self, peer: str) -> None:
        backoff = 0.05
        while True:
            with self._cv:
                while not self._stopped and peer in self._pending and not self._pending[peer]:
                    self._cv.wait(1.0)
                if self._stopped or peer not in self._pending:
                    return
            if self.delay_s:
                time.sleep(self.delay_s)
            with self._cv:
                if peer not in self._pending:
                    return
                batch = self._pending[peer]
                self._pending[peer] = {}
            r = self.pool.call(peer, self.path, {"entries": batch})
            if r.ok:
                backoff = 0.05
                continue
            # Put the batch back under anything newer that arrived meanwhile; retry later.
            with self._cv:
                if peer in self._pending:
                    pend = self._pending[peer]
                    for k, e in batch.items():
                        pend[k] = self.merge(k, e, pend[k]) if k in pend else e
            time.sleep(backoff)
            backoff = min(1.0, backoff * 2)
