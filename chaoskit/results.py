"""The results directory of one run: layout, atomic writes, the INCOMPLETE marker.

Layout (docs/contracts.md): ``results/<experiment name>/<UTC timestamp>/`` with a
``latest`` symlink next to the timestamps. ``INCOMPLETE`` is created first and
removed only by :meth:`RunDir.finish`, so a crashed or interrupted run is always
recognisable. Every file is written to a temporary name in the same directory and
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Atomic writes live in chaoskit.atomic (every package uses them); re-exported here.
from chaoskit.atomic import atomic_write_text

INCOMPLETE = "INCOMPLETE"


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _timestamp() -> str:
    # Sortable, filesystem-safe, UTC; microseconds keep two quick runs apart.
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _safe_name(name: str) -> str:
    keep = [c if (c.isalnum() or c in "-_.") else "_" for c in name]
    return "".join(keep).strip(".") or "experiment"


@dataclass
class RunDir:
    """One run's results directory."""

    path: Path
    name: str

    @classmethod
    def create(cls, results_root: Path, name: str) -> RunDir:
        base = Path(results_root) / _safe_name(name)
        base.mkdir(parents=True, exist_ok=True)
        while True:
            path = base / _timestamp()
            try:
                path.mkdir()
                break
            except FileExistsError:  # same microsecond: try again
                continue
        (path / "logs").mkdir()
        atomic_write_text(path / INCOMPLETE, "run started; removed when every result is written\n")
        run = cls(path=path, name=name)
        run.point_latest()
        return run

    @property
    def run_id(self) -> str:
        return f"{_safe_name(self.name)}-{self.path.name}"

    def file(self, rel: str) -> Path:
        return self.path / rel

    def write_text(self, rel: str, text: str) -> Path:
        p = self.path / rel
        atomic_write_text(p, text)
        return p

    def write_json(self, rel: str, obj: Any) -> Path:
        p = self.path / rel
        atomic_write_json(p, obj)
        return p

    def point_latest(self) -> None:
        """`latest` -> this run (relative link, replaced atomically)."""
        link = self.path.parent / "latest"
        tmp = self.path.parent / f".latest.{os.getpid()}.tmp"
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(self.path.name, tmp)
        os.replace(tmp, link)

    def mark_incomplete(self, reason: str) -> None:
        atomic_write_text(self.path / INCOMPLETE, reason.rstrip() + "\n")

    @property
    def incomplete(self) -> bool:
        return (self.path / INCOMPLETE).exists()

    def finish(self) -> None:
        """Everything is written: drop the INCOMPLETE marker (the very last step)."""
        try:
            (self.path / INCOMPLETE).unlink()
        except FileNotFoundError:
            pass
