"""The terminal display of a running experiment (rich): phase, elapsed time,
ops/s per region (tailing history.jsonl, as the load process appends it) and the
active faults; and the summary table at the end."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table


class HistoryTail:
    """Follows history.jsonl: completions per region, and a 5 s rate window."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pos = 0
        self._buf = b""
        self.totals: dict[str, dict[str, int]] = defaultdict(
            lambda: {"ok": 0, "fail": 0, "info": 0}
        )
        self._recent: deque[tuple[float, str]] = deque()

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._pos += len(chunk)
        data = self._buf + chunk
        lines = data.split(b"\n")
        self._buf = lines.pop()  # a partial last line waits for the rest
        now = time.monotonic()
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            typ = rec.get("type")
            if typ in ("ok", "fail", "info"):
                region = rec.get("region") or "?"
                self.totals[region][typ] += 1
                self._recent.append((now, region))
        while self._recent and self._recent[0][0] < now - 5.0:
            self._recent.popleft()

    def rates(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for _, region in self._recent:
            out[region] += 1 / 5.0
        return dict(out)


class Progress:
    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.phase = "starting"
        self.t_start = time.monotonic()
        self.tail: HistoryTail | None = None
        self.faults: Any = None  # () -> list of FaultHandle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        if not self.quiet and not self.console.is_terminal:
            self.console.print(f"[{time.monotonic() - self.t_start:6.1f}s] {phase}")

    def follow(self, history: Path, faults: Any) -> None:
        self.tail = HistoryTail(history)
        self.faults = faults

    def _render(self) -> Table:
        t = Table(
            title=f"chaoskit: {self.phase}  ({time.monotonic() - self.t_start:.0f} s)", expand=False
        )
        t.add_column("region")
        t.add_column("ops/s", justify="right")
        t.add_column("ok", justify="right")
        t.add_column("fail", justify="right")
        t.add_column("info", justify="right")
        if self.tail is not None:
            self.tail.poll()
            rates = self.tail.rates()
            for region in sorted(self.tail.totals):
                c = self.tail.totals[region]
                t.add_row(
                    region,
                    f"{rates.get(region, 0.0):.0f}",
                    str(c["ok"]),
                    str(c["fail"]),
                    str(c["info"]),
                )
        active = self.faults() if self.faults else []
        t.caption = "active faults: " + (
            escape(", ".join(h.describe() for h in active)) if active else "none"
        )
        return t

    def start(self) -> None:
        if self.quiet or not self.console.is_terminal:
            return
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=2, transient=True
        )
        self._live.start()

        def loop() -> None:
            while not self._stop.wait(0.5):
                try:
                    self._live.update(self._render())
                except Exception:  # the display must never break a run
                    pass

        self._thread = threading.Thread(target=loop, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:
                pass
            self._live = None
        if self.tail is not None:
            self.tail.poll()
