"""events.jsonl: what the engine and the faults did, on the run's time base.

Shape (docs/contracts.md): one JSON object per line with ``time`` (ns since the
run's t0 = ``time.monotonic_ns()`` at run start), ``event`` and event-specific
fields. The file is appended line by line and flushed at once so the report
report package's live metrics can follow it while the run goes on; each line is written
with one ``write`` call under a lock, so concurrent writers (scheduler threads,
the game-day panel) never interleave.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

EVENT_KINDS = (
    "run-start",
    "load-start",
    "apply",
    "heal",
    "heal-failed",
    "load-stop",
    "final-reads",
    "teardown",  # what the backend removed and what it could not (backends.teardown)
    "run-end",
    "note",
    "roles",
    "node-exit",  # a node stopped while no fault covered it (chaoskit.nodewatch)
)


class EventLog:
    """Thread-safe append-only writer of events.jsonl; keeps a copy in memory."""

    def __init__(self, path: Path | None, t0_ns: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._f = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.t0_ns

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        if event not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {event!r} (known: {', '.join(EVENT_KINDS)})")
        rec: dict[str, Any] = {"time": self.now_ns(), "event": event}
        rec.update(fields)
        line = json.dumps(rec, sort_keys=False, default=str) + "\n"
        with self._lock:
            self._events.append(rec)
            if self._f is not None and not self._f.closed:
                self._f.write(line)
                self._f.flush()
        return rec

    def note(self, message: str, **fields: Any) -> dict[str, Any]:
        return self.emit("note", message=message, **fields)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        with self._lock:
            if self._f is not None and not self._f.closed:
                self._f.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out
