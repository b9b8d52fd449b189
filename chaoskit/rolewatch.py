"""Role changes, observed while the load runs: who is primary/leader, and since when.

A system adapter that names roles (`SystemAdapter.roles`) is polled every
`interval_s`; each change is one `roles` event in events.jsonl with the new roles
and what changed (`{"primary": [old, new]}`). The report reads these as takeover
moments: a promotion ends the loss window of the writes the old primary
acknowledged (chaoskit/report/loss_window.py). The moment is when the change was
first observed, so it is late by at most one interval.
"""

from __future__ import annotations

import threading
from typing import Any

from chaoskit.events import EventLog
from chaoskit.systems.base import SystemAdapter, SystemContext

# Roles whose change is a takeover (the rest, e.g. "replica", follow from them).
TAKEOVER_ROLES = ("primary", "leader")


class RoleWatch:
    def __init__(
        self, adapter: SystemAdapter, ctx: SystemContext, events: EventLog, interval_s: float = 0.5
    ) -> None:
        self.adapter, self.ctx, self.events, self.interval_s = adapter, ctx, events, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict[str, list[str]] = {}

    @property
    def enabled(self) -> bool:
        """Only adapters that override `roles` have roles to watch."""
        return type(self.adapter).roles is not SystemAdapter.roles

    def _poll(self) -> None:
        try:
            roles = {k: sorted(v) for k, v in (self.adapter.roles(self.ctx) or {}).items()}
        except Exception:  # an unreachable system has no observable roles right now
            return
        watched = {k: roles.get(k, []) for k in TAKEOVER_ROLES if k in roles}
        if not watched or not any(watched.values()):
            return  # no one holds the role (mid-election): wait for the outcome
        changed: dict[str, Any] = {}
        for k, now in watched.items():
            before = self.last.get(k)
            if now and before != now:
                changed[k] = [before, now]
        if changed:
            first = not self.last
            self.last.update({k: v for k, v in watched.items() if v})
            self.events.emit("roles", roles=watched, changed=changed, initial=first)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._poll()

    def start(self) -> RoleWatch:
        if self.enabled and self._thread is None:
            self._poll()
            self._thread = threading.Thread(target=self._loop, name="rolewatch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
