"""What a fault is (`FaultDef`: name, family, parameters, rules, apply, effect), what
it may touch (`FaultContext`) and what applying one returns (`Applied`).

A fault's `apply(ctx, params, fault_id) -> Applied` acts on the cluster only
through the context (the backend, the link control, the system adapter) and
returns the targets it resolved plus a ``heal`` callable that undoes exactly what
it did. Faults never touch processes or Docker themselves.

Parameter values reach `apply` as the validator leaves them:

- every parameter of the fault is present (defaults filled in; an optional
  parameter without a default is absent);
- `duration` / `signed-duration` values are float SECONDS (rtt: 22ms -> 0.022,
  offset: -2s -> -2.0) -- convert to ms where Toxiproxy wants ms;
- `datetime` values are ISO 8601 strings (clock-skew `time`, the absolute clock;
  not `at`: `at` is every schedule entry's start time);
- a `selector` (node selector) is either a string -- "all", "random-node",
  "minority", "majority", a system role such as "leader", or a node name -- or a
  one-key dict {"region": R} | {"zone": Z} | {"node": N} | {"role": R}, or
  {"random": K, "of": <selector>} (K nodes drawn from the inner selector);
- a `links` (link selector) is "all" or a one-key dict {"between": [A, B]} |
  {"region": R} | {"names": [link names]};
- `region-or-random` is a region name or "random" (drawn at apply time from the
  run's seeded RNG).

Faults with `instant=True` have no heal and take no `for` (start, clock-reset,
restore-quorum). Faults with `clock=True` need `SystemAdapter.supports_clock_skew`.
Network faults act on inter-region links only: a region is the network's
failure domain (traffic inside a region goes direct).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.backends.base import Backend, NodeSpec
from chaoskit.faults.overlay import LinkOverlay
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


@dataclass(frozen=True)
class RuleScope:
    """What a cross-field rule may look at besides the fault's parameters."""

    regions: list[str]
    zones: list[str]
    nodes: list[str]
    backend: str | None  # local | docker (None: not known)
    adapter: Any = None  # the system's adapter class (None: not known)


# A cross-field rule: (validated params, scope) -> [(field, message)] for each
# problem ("fault" for the entry's kind); [] when the parameters fit together.
Rule = Callable[[dict[str, Any], RuleScope], list[tuple[str, str]]]

# Parameter types understood by the validator (see the module doc for the value shapes).
PARAM_TYPES = (
    "region",  # a region name of the topology
    "region-or-random",  # a region name or "random"
    "regions",  # list of region names
    "region-groups",  # list of lists of region names, disjoint
    "selector",  # node selector
    "links",  # link selector
    "duration",  # >= 0, seconds
    "signed-duration",  # seconds, may be negative: -2s, +500ms
    "datetime",  # ISO 8601 date-time
    "enum",  # one of `choices`
    "number",  # float; see `min`/`max`/`min_exclusive`
    "int",  # int; see `min`/`max`
    "zone-or-random",  # a zone name of the topology or "random"
    "node-groups",  # list of lists of node selectors
    "region-or-selector",  # a region name, or a node selector mapping
)

# What a fault does, for the pictures (timeline, topology, live metrics):
CUTS_LINKS = "cut"  # links stop carrying traffic
DEGRADES_LINKS = "degraded"  # links carry traffic worse (latency, bandwidth, flaky)
ACTS_ON_NODES = "nodes"  # node processes or clocks (kill, stop, pause, clock-skew)
NO_EFFECT = ""  # nothing to draw (start, clock-reset, quorum changes)

NODE_SELECTOR_KEYWORDS: tuple[str, ...] = ("all", "random-node", "minority", "majority")
NODE_SELECTOR_KEYS: tuple[str, ...] = ("region", "zone", "node", "role", "random")
# Roles systems commonly give (SystemAdapter.roles); an adapter class names more
# in SystemAdapter.role_names.
KNOWN_ROLES: tuple[str, ...] = ("leader", "follower", "primary")
LINK_SELECTOR_KEYS: tuple[str, ...] = ("between", "region", "names")


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # one of PARAM_TYPES
    required: bool = False
    default: Any = None  # None = absent when not given (unless required)
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    doc: str = ""


@dataclass(frozen=True)
class FaultDef:
    """One fault: everything the validator, the fault manager and the report know of it."""

    name: str
    family: str  # network | process | clock | quorum (plot colours, grouping)
    doc: str
    params: tuple[Param, ...] = ()
    instant: bool = False  # no heal, no `for`
    clock: bool = False  # needs a system whose clock can be skewed
    # Groups of parameter names of which exactly one must be given.
    one_of: tuple[tuple[str, ...], ...] = ()
    # Rules over several parameters, run once every parameter is valid on its own.
    rules: tuple[Rule, ...] = ()
    effect: str = NO_EFFECT  # CUTS_LINKS | DEGRADES_LINKS | ACTS_ON_NODES | NO_EFFECT
    apply: FaultFn = field(kw_only=True)

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def with_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` plus the default of every parameter not given."""
        out = {p.name: p.default for p in self.params if p.default is not None}
        out.update(params)
        return out


TARGET = Param("target", "selector", required=True, doc="which nodes (node selector)")
NETWORK_MODES: tuple[str, ...] = ("blackhole", "refuse")
MODE = Param(
    "mode",
    "enum",
    default="blackhole",
    choices=NETWORK_MODES,
    doc="blackhole: connections hang (packets dropped); refuse: connections are refused/reset",
)


def on_every_node(nodes: Iterable[str], act: Callable[[str], Any], step: str) -> None:
    """act(node) on every node, going on after a failure; then one FaultError
    "<step> failed on <node>: <error>; ..." naming each node that failed."""
    errors = []
    for n in nodes:
        try:
            act(n)
        except Exception as e:  # reach every node even if one fails
            errors.append(f"{n}: {e}")
    if errors:
        raise FaultError(f"{step} failed on " + "; ".join(errors))


def on_each_node(
    nodes: Iterable[str], act: Callable[[str], Any], undo: Callable[[list[str]], Any]
) -> None:
    """act(node) on each node in turn; if one fails, undo(nodes already done) and re-raise."""
    done: list[str] = []
    try:
        for n in nodes:
            act(n)
            done.append(n)
    except BaseException:
        undo(done)
        raise


def nonzero(name: str, meaning: str) -> Rule:
    """A rule rejecting `name` == 0: "<name> must be > 0 (<meaning>)"."""

    def rule(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
        if params.get(name) == 0:
            return [(name, f"{name} must be > 0 ({meaning})")]
        return []

    return rule
