"""What a fault may touch (`FaultContext`), what applying one returns (`Applied`),
and the registry of fault kinds by name.

A fault is a function ``apply(ctx, params, fault_id) -> Applied``: it acts on the
cluster only through the context (the backend, the link control, the system
adapter) and returns the targets it resolved plus a ``heal`` callable that undoes
exactly what it did. Faults never touch processes or Docker themselves.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.backends.base import Backend, NodeSpec
from chaoskit.systems.base import SystemAdapter, SystemContext
from chaoskit.topology.model import AddressPlan, Topology


class FaultError(RuntimeError):
    """A fault could not be applied (bad target at run time, a failed action)."""


@dataclass
class FaultContext:
    """Everything a fault may use. `links` is a chaoskit.links.control.LinkControl
    (or anything with the same methods: cut/heal/set_latency/add_toxic/remove_toxic/state)."""

    topology: Topology
    plan: AddressPlan
    backend: Backend
    links: Any
    adapter: SystemAdapter
    system: SystemContext
    seed: int = 0
    ready_timeout_s: float = 30.0
    # Set when the heals only precede teardown (Ctrl-C, Cluster.down): restarted nodes
    # are not waited for, so an interrupted run still ends within seconds.
    tearing_down: bool = False
    # Shared bookkeeping so overlapping network faults heal correctly (see network.py).
    overlay: Any = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if self.overlay is None:
            from chaoskit.faults.network import LinkOverlay

            self.overlay = LinkOverlay(self.links, self.plan)

    def rng_for(self, fault_id: str) -> random.Random:
        """A per-fault random source: the same seed and id choose the same targets,
        whatever the thread timing (random nemesis reproducible from `seed`)."""
        return random.Random(f"{self.seed}:{fault_id}")

    def node_spec(self, node: str) -> NodeSpec:
        return self.adapter.node_spec(node, self.system)

    def start_node(self, node: str, wait_ready: bool = True) -> None:
        """(Re)start a node the way the system adapter describes it, then wait until it serves."""
        self.backend.start_node(node, self.node_spec(node))
        if wait_ready:
            self.adapter.wait_ready(self.system, [node], self.ready_timeout_s)

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.topology.nodes]


@dataclass
class Applied:
    """The result of applying a fault: resolved targets and how to undo it."""

    targets: dict[str, Any]
    heal: Callable[[], None]
    # An instant fault (start, clock-reset, restore-quorum) has nothing to undo: it is
    # recorded as applied and healed at once, so it never counts as active.
    instant: bool = False


FaultFn = Callable[[FaultContext, dict[str, Any], str], Applied]

FAULTS: dict[str, FaultFn] = {}
FAMILY: dict[str, str] = {}


def fault(name: str, family: str) -> Callable[[FaultFn], FaultFn]:
    def deco(fn: FaultFn) -> FaultFn:
        FAULTS[name] = fn
        FAMILY[name] = family
        return fn

    return deco


def get_fault(name: str) -> FaultFn:
    _load_all()
    try:
        return FAULTS[name]
    except KeyError:
        raise FaultError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}") from None


def known_faults() -> list[str]:
    _load_all()
    return sorted(FAULTS)


def _load_all() -> None:
    # Importing the family modules fills the registry.
    from chaoskit.faults import clock, domains, network, process, quorum  # noqa: F401
