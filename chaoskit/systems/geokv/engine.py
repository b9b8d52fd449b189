"""What every mode's engine offers the HTTP layer, and the result shape it returns."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from chaoskit.systems.geokv.config import NodeConfig
from chaoskit.systems.geokv.journal import Journal
from chaoskit.systems.geokv.peers import PeerPool


@dataclass
class Result:
    """An HTTP status and JSON body.

    200 ok; 409 the operation cannot apply (cas mismatch, wrong type) and had no
    effect; 503 unavailable; 504 the outcome is unknown. Error bodies carry
    `definite`: true when the operation certainly had no effect.
    """

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def ok(value: Any) -> Result:
    return Result(200, {"ok": True, "value": value})


def refused(error: str, status: int = 503) -> Result:
    return Result(status, {"ok": False, "error": error, "definite": True})


def unknown(error: str) -> Result:
    return Result(504, {"ok": False, "error": error, "definite": False})


class Engine:
    """Base: membership, freezing and the health summary shared by the modes."""

    mode = "abstract"

    def __init__(self, cfg: NodeConfig, pool: PeerPool) -> None:
        self.cfg = cfg
        self.pool = pool
        self.members: list[str] = list(cfg.members)
        self.frozen = False
        self._mlock = threading.Lock()
        self.journal = Journal(cfg.data_dir)

    # -- client operations and node-to-node messages (per mode) --
    def op(self, f: str, key: str, value: Any, hops: int, budget_s: float) -> Result:
        """Run one client operation within `budget_s` seconds (the smaller of the
        node's op timeout and what the client said it will wait)."""
        raise NotImplementedError

    def internal(self, path: str, body: dict[str, Any]) -> Result:
        return refused(f"unknown internal path {path}", 404)

    # -- admin --
    def log(self, msg: str) -> None:
        """One line to the node's log (stderr): membership, freezes, failovers."""
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        sys.stderr.write(f"{stamp} geokv {self.cfg.id}: {msg}\n")
        sys.stderr.flush()

    def set_members(self, members: list[str]) -> list[str]:
        with self._mlock:
            old = self.members
            self.members = list(members)
        if old != self.members:
            self.log(f"members {','.join(old)} -> {','.join(self.members)}")
        return [m for m in members if m not in old]

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError

    def install(self, states: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "id": self.cfg.id,
            "region": self.cfg.region,
            "mode": self.mode,
            "members": self.members,
            "member": self.cfg.id in self.members,
            "frozen": self.frozen,
            "wall_time": time.time(),  # the node's wall clock (skewed or drifting under clock faults)
        }

    def roles(self) -> dict[str, list[str]]:
        return {}

    def close(self) -> None:
        self.journal.close()
