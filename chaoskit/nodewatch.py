"""Noticing a node that stops while no fault explains it.

`NodeWatch` polls `backend.node_status(node)` for every node of the topology in a
daemon thread while the load runs (every node counts as running when it starts:
the cluster is up and ready by then). A node seen running and then seen stopped is an
*exit*; the exit is expected when a fault that may stop that node was in force
between the two observations (or healed less than `grace_s` before the last one:
its heal may still be restarting the node). A fault is known to the watch only once
its application has returned, and a kill stops the node before that: an exit is
judged `grace_s` after it was seen (or when the watch stops), so a fault whose
application ended by then covers it too. An exit no fault covers is recorded as a
`node-exit` event at the time it was seen: node, region, how it ended (exit code or
signal), the last lines of its log.
The report shows those on its timeline and in the summary; the `unexpected_exits`
check (chaoskit/checks/unexpected_exits.py) bounds their number.

Which faults may stop a node: every fault that names the node (or its region) in its
targets, except the network families, which change links and never the processes
(a node that dies during a partition is not explained by it); a quorum fault, which
kills and restarts members as it sees fit, covers every node; a fault of a family
this chaoskit does not know, every node it names or, naming none, every node.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.faults.catalogue import family_of

if TYPE_CHECKING:
    from chaoskit.backends.base import Backend
    from chaoskit.events import EventLog
    from chaoskit.faults.manager import FaultHandle

NETWORK_FAMILIES = ("network", "domains", "congestion")
LOG_LINES = 12


def covers(handle: FaultHandle, node: str, region: str) -> bool:
    """True when `handle` may stop `node` (of `region`) as part of its effect."""
    family = family_of(handle.kind)
    if family in NETWORK_FAMILIES:
        return False
    if family == "quorum":
        return True
    t = handle.targets or {}
    named = [*(t.get("nodes") or []), *(t.get("dropped") or [])]
    regions = t.get("regions") or []
    if node in named or region in regions:
        return True
    return family == "other" and not named and not regions


def log_tail(path: Path, lines: int = LOG_LINES) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError:
        return ""


class NodeWatch:
    def __init__(
        self,
        backend: Backend,
        regions: dict[str, str],
        faults: Callable[[], list[FaultHandle]],
        events: EventLog,
        interval_s: float = 0.5,
        grace_s: float = 5.0,
    ) -> None:
        """`regions`: node -> its region; `faults`: every fault applied so far."""
        self.backend = backend
        self.regions = regions
        self.faults = faults
        self.events = events
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.exits: list[dict[str, Any]] = []  # the node-exit events recorded
        self._last_running: dict[str, int] = {}  # node -> run time (ns) last seen running
        # node -> (last seen running, seen stopped, its status): exits not judged yet
        self._pending: dict[str, tuple[int, int, Any]] = {}
        self._judging = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="node watch")

    def start(self) -> NodeWatch:
        """Start watching; every node counts as running now (the cluster is up and ready)."""
        now = self.events.now_ns()
        self._last_running = dict.fromkeys(self.regions, now)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop watching and judge the exits still waiting for their grace."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self.judge(final=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for node in self.regions:
                if self._stop.is_set():
                    return
                try:
                    self.poll(node)
                except Exception:  # noqa: BLE001 - a watch never breaks the run itself
                    continue
            self.judge()
            self._stop.wait(self.interval_s)

    def poll(self, node: str) -> None:
        """Look at `node` once; an exit found waits in `_pending` for `judge`."""
        status = self.backend.node_status(node)
        now = self.events.now_ns()
        if status is None:  # the backend cannot tell now: no change
            return
        if status.running:
            self._last_running[node] = now
            return
        seen = self._last_running.pop(node, None)
        if seen is None:  # not running before either (a fault's doing, or never started)
            return
        self._pending[node] = (seen, now, status)

    def judge(self, final: bool = False) -> list[dict[str, Any]]:
        """Decide the exits seen at least `grace_s` ago (every one when `final`): those no
        fault covers become node-exit events, returned."""
        now = self.events.now_ns()
        grace_ns = int(self.grace_s * 1e9)
        out = []
        # stop() judges too, and the watch thread may still be in its last round
        with self._judging:
            for node, (seen, stopped, status) in list(self._pending.items()):
                if not final and now - stopped < grace_ns:
                    continue
                del self._pending[node]
                if not self._covered(node, seen, stopped + grace_ns):
                    out.append(self._record(node, seen, stopped, status))
        return out

    def _covered(self, node: str, seen: int, applied_by: int) -> bool:
        """A fault that may stop `node`, applied by `applied_by`, in force after `seen`
        (or healed less than `grace_s` before it)."""
        region = self.regions[node]
        grace_ns = int(self.grace_s * 1e9)
        return any(
            h.applied_at_ns <= applied_by
            and (h.healed_at_ns is None or h.healed_at_ns >= seen - grace_ns)
            and covers(h, node, region)
            for h in self.faults()
        )

    def _record(self, node: str, seen: int, stopped: int, status: Any) -> dict[str, Any]:
        log = self.backend.node_log(node)
        rec = self.events.emit(
            "node-exit",
            time=stopped,
            node=node,
            region=self.regions[node],
            how=status.describe(),
            exit_code=status.exit_code,
            signal=status.signal,
            last_seen_running_s=round(seen / 1e9, 3),
            log=str(log),
            log_tail=log_tail(log),
        )
        self.exits.append(rec)
        return rec
