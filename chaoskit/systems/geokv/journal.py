"""Durability against process kills: an append-only JSON-lines journal per node.

Every state change is written (os.write, no fsync) before the node answers, so a
SIGKILLed node restarts with everything it acknowledged or promised: the kernel
keeps written data when a process dies; only a machine crash could lose the tail,
which chaoskit never injects. A quorum acceptor that forgot its promises after a
restart would break majority intersection, so this is not optional for `quorum`.

On start the journal is replayed (the last line per key wins); when it has grown
to several times the live state it is rewritten compactly (temp file + rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE = "geokv-state.jsonl"


class Journal:
    def __init__(self, data_dir: str | None) -> None:
        self.path = Path(data_dir) / FILE if data_dir else None
        self._fd: int | None = None
        self._lines = 0

    def load(self) -> dict[str, Any]:
        """The state recorded so far (empty without a data dir or file)."""
        state: dict[str, Any] = {}
        if self.path is None:
            return state
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        k, e = json.loads(line)
                    except (ValueError, TypeError):
                        break  # a torn last line from a kill mid-write: stop there
                    state[k] = e
                    self._lines += 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return state

    def append(self, key: str, entry: Any, live_keys: int) -> bool:
        """Record one change; True when the caller should rewrite() (compaction)."""
        if self._fd is None:
            return False
        os.write(self._fd, (json.dumps([key, entry], separators=(",", ":")) + "\n").encode())
        self._lines += 1
        return self._lines > 10_000 and self._lines > 4 * live_keys

    def rewrite(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for k, e in state.items():
                fh.write(json.dumps([k, e], separators=(",", ":")) + "\n")
        os.replace(tmp, self.path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lines = len(state)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
