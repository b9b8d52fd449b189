"""The load plan: the plain data the engine hands to the load package.

It crosses a process boundary (the engine writes it as JSON, the Locust process
reads it back), so everything in it is JSON-able; `views` holds "host:port"
strings, turned into `Endpoint`s only inside the load process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaoskit.atomic import atomic_write_text
from chaoskit.checker.isolation import TXN_MODELS
from chaoskit.topology.model import Endpoint

WORKLOADS = ("register", "cas-register", "set", *TXN_MODELS)


class PlanError(ValueError):
    """A load plan that cannot run; the message names the field and what is valid."""


@dataclass
class WorkloadSpec:
    workload: str = "register"  # register | cas-register | set
    keys: int = 4
    duration_s: float = 10.0
    rate: float | None = None  # total ops/s over all users; None = as fast as they can
    rate_per_region: dict[str, float] | None = None  # overrides `rate` region by region
    read_ratio: float = 0.5
    cas_ratio: float = 0.0  # cas-register only: share of cas among all ops
    timeout_s: float = 2.0  # per-operation client timeout
    seed: int = 0
    txn: dict | None = None  # transactional workloads: TxnSpec fields


@dataclass
class LoadPlan:
    system_kind: str
    system_options: dict[str, Any]
    views: dict[str, dict[str, dict[str, str]]]  # region -> node -> port name -> "host:port"
    users: dict[str, int]  # region -> number of users
    workload: WorkloadSpec
    t0_ns: int  # the run's time base: time.monotonic_ns() of the engine
    out_dir: Path
    workers: int = 0  # 0 = one local Locust process; N = a master and N workers
    web_ui: dict[str, Any] | None = (
        None  # {"host", "port", "auth": "user:pass"|None, "extra": "mod:fn"}
    )
    # Distributed mode across machines (docs/load.md): workers on other machines
    # connect to the master, which must then listen on a reachable interface.
    remote_workers: int = 0  # workers started by hand elsewhere, waited for before the load starts
    master_bind_host: str = "127.0.0.1"  # "*" to accept workers from other machines
    master_port: int = 0  # 0 = pick a free port (a fixed one lets remote workers start first)
    worker_wait_s: float = 60.0  # how long the master waits for all workers

    # -- validation -------------------------------------------------------------
    def validate(self) -> None:
        w = self.workload
        if w.workload not in WORKLOADS:
            raise PlanError(
                f"workload.workload: {w.workload!r} is not one of {', '.join(WORKLOADS)}"
            )
        if w.keys < 1:
            raise PlanError(f"workload.keys: {w.keys} must be at least 1")
        if w.duration_s <= 0:
            raise PlanError(f"workload.duration_s: {w.duration_s} must be > 0")
        if w.rate is not None and w.rate <= 0:
            raise PlanError(f"workload.rate: {w.rate} must be > 0 ops/s (or null for unthrottled)")
        for name, ratio in (("read_ratio", w.read_ratio), ("cas_ratio", w.cas_ratio)):
            if not 0.0 <= ratio <= 1.0:
                raise PlanError(f"workload.{name}: {ratio} must be between 0 and 1")
        if w.read_ratio + w.cas_ratio > 1.0:
            raise PlanError("workload.read_ratio + workload.cas_ratio must not exceed 1")
        if w.timeout_s <= 0:
            raise PlanError(f"workload.timeout_s: {w.timeout_s} must be > 0")
        if not self.users or sum(self.users.values()) < 1:
            raise PlanError("users: at least one region needs at least one user")
        for region, n in self.users.items():
            if n < 0:
                raise PlanError(f"users.{region}: {n} must be >= 0")
            if n and region not in self.views:
                raise PlanError(
                    f"users.{region}: no view for region {region!r} (views has: {', '.join(sorted(self.views))})"
                )
        for region, r in (w.rate_per_region or {}).items():
            if region not in self.users:
                raise PlanError(f"workload.rate_per_region.{region}: not a region with users")
            if r <= 0:
                raise PlanError(f"workload.rate_per_region.{region}: {r} must be > 0")
        for region, nodes in self.views.items():
            for node, ports in nodes.items():
                for port, addr in ports.items():
                    try:
                        parse_endpoint(addr)
                    except ValueError as e:
                        raise PlanError(f"views.{region}.{node}.{port}: {e}") from None
        if self.workers < 0:
            raise PlanError(f"workers: {self.workers} must be >= 0")
        if self.remote_workers < 0:
            raise PlanError(f"remote_workers: {self.remote_workers} must be >= 0")
        if not 0 <= self.master_port < 65536:
            raise PlanError(
                f"master_port: {self.master_port} is not a TCP port (0 = any free port)"
            )

    # -- derived ----------------------------------------------------------------
    def region_rate(self, region: str) -> float | None:
        """Ops/s for all users of `region` together (None = unthrottled)."""
        w = self.workload
        if w.rate_per_region and region in w.rate_per_region:
            return w.rate_per_region[region]
        if w.rate is None:
            return None
        total = sum(self.users.values())
        return w.rate * self.users.get(region, 0) / total

    def endpoint_view(self, region: str) -> dict[str, dict[str, Endpoint]]:
        """`views[region]` as the adapter's client() wants it."""
        return {
            node: {port: parse_endpoint(a) for port, a in ports.items()}
            for node, ports in self.views[region].items()
        }

    @property
    def history_path(self) -> Path:
        return Path(self.out_dir) / "history.jsonl"

    # -- JSON -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadPlan:
        d = dict(d)
        d["workload"] = WorkloadSpec(**d["workload"])
        d["out_dir"] = Path(d["out_dir"])
        return cls(**d)

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise PlanError(f"{path}: cannot read the load plan ({e.strerror or e})") from None
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise PlanError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
        except (KeyError, TypeError) as e:
            raise PlanError(f"{path}: not a load plan (missing or unexpected field: {e})") from None


def parse_endpoint(addr: str) -> Endpoint:
    host, sep, port = str(addr).rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{addr!r} is not host:port")
    return Endpoint(host.strip("[]"), int(port))


def views_from_plan(
    outside: dict[str, dict[str, dict[str, Endpoint]]],
) -> dict[str, dict[str, dict[str, str]]]:
    """AddressPlan.outside -> the JSON-able `views` of a LoadPlan."""
    return {
        region: {
            node: {port: str(ep) for port, ep in ports.items()} for node, ports in nodes.items()
        }
        for region, nodes in outside.items()
    }
