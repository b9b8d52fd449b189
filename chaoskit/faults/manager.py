"""Apply and heal faults, record both in events.jsonl, and heal everything left
at the end (reverse order; a failed heal is reported and the others still run)."""

from __future__ import annotations

import itertools
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from chaoskit.events import EventLog
from chaoskit.faults.base import FaultContext
from chaoskit.faults.catalogue import family_of, get_fault


@dataclass
class FaultHandle:
    """One applied fault (what `Cluster.apply_fault` returns)."""

    id: str
    kind: str
    params: dict[str, Any]
    targets: dict[str, Any]
    source: str
    applied_at_ns: int
    _heal: Any = field(repr=False, default=None)
    healed: bool = False
    heal_error: str | None = None
    healed_at_ns: int | None = None  # when its heal (or heal-failed) was recorded

    @property
    def family(self) -> str:
        return family_of(self.kind)

    def describe(self) -> str:
        t = self.targets
        what = t.get("regions") or t.get("nodes") or t.get("links") or []
        what_s = ",".join(map(str, what[:4])) + ("…" if len(what) > 4 else "")
        return f"{self.id} {self.kind}" + (f" [{what_s}]" if what_s else "")


class FaultManager:
    def __init__(self, ctx: FaultContext, events: EventLog) -> None:
        self.ctx = ctx
        self.events = events
        self._lock = threading.RLock()
        self._active: list[FaultHandle] = []
        self._all: list[FaultHandle] = []  # every fault applied, in order, healed or not
        self._ids = itertools.count(1)
        self.errors: list[str] = []  # apply failures (the run did not do what it said)

    def new_id(self, prefix: str = "f") -> str:
        return f"{prefix}{next(self._ids)}"

    def apply(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        fault_id: str | None = None,
        source: str = "schedule",
    ) -> FaultHandle:
        fd = get_fault(kind)
        params = fd.with_defaults(dict(params or {}))
        fid = fault_id or self.new_id()
        with self._lock:
            try:
                applied = fd.apply(self.ctx, params, fid)
            except Exception as e:
                msg = f"applying {kind} ({fid}) failed: {e}"
                self.errors.append(msg)
                self.events.note(
                    msg, id=fid, fault=kind, params=params, source=source, error=str(e)
                )
                raise
            rec = self.events.emit(
                "apply", id=fid, fault=kind, params=params, targets=applied.targets, source=source
            )
            h = FaultHandle(
                id=fid,
                kind=kind,
                params=params,
                targets=applied.targets,
                source=source,
                applied_at_ns=rec["time"],
                _heal=applied.heal,
            )
            self._all.append(h)
            if applied.instant:
                h.healed = True
                rec = self.events.emit(
                    "heal", id=fid, fault=kind, ok=True, instant=True, source=source
                )
                h.healed_at_ns = rec["time"]
            else:
                self._active.append(h)
            return h

    def heal(self, handle: FaultHandle, source: str | None = None) -> bool:
        """Heal one fault; returns False (and records heal-failed) if the heal raised."""
        with self._lock:
            if handle.healed:
                return handle.heal_error is None
            handle.healed = True
            if handle in self._active:
                self._active.remove(handle)
            try:
                handle._heal()
            except Exception as e:
                handle.heal_error = f"{type(e).__name__}: {e}"
                handle.healed_at_ns = self.events.now_ns()
                self.events.emit(
                    "heal-failed",
                    id=handle.id,
                    fault=handle.kind,
                    ok=False,
                    error=handle.heal_error,
                    detail=traceback.format_exc(limit=3),
                    source=source or handle.source,
                )
                return False
            rec = self.events.emit(
                "heal", id=handle.id, fault=handle.kind, ok=True, source=source or handle.source
            )
            handle.healed_at_ns = rec["time"]
            return True

    def heal_all(self, source: str = "teardown") -> list[str]:
        """Heal every active fault in reverse order of application; returns heal errors."""
        errors = []
        while True:
            with self._lock:
                if not self._active:
                    break
                h = self._active[-1]
            if not self.heal(h, source):
                errors.append(f"{h.id} {h.kind}: {h.heal_error}")
        return errors

    def active(self) -> list[FaultHandle]:
        with self._lock:
            return list(self._active)

    def applied(self) -> list[FaultHandle]:
        """Every fault applied so far (active, healed or instant), in order."""
        return list(self._all)
