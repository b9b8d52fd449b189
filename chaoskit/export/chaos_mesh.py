"""An experiment as Kubernetes + Chaos Mesh (v2.6) manifests.

What becomes what:

- topology: pods chosen by the user's label selector are given the labels
  `chaoskit.io/region`, `chaoskit.io/zone` and `chaoskit.io/node` (label-pods.sh:
  the i-th pod by name gets the i-th node of the topology); one Service per node
  (`<name>-<node>`) gives each node a stable address for the load;
- latency matrix: one NetworkChaos `delay` per region pair, direction both, half
  the pair's RTT (and jitter) each way, running until deleted;
- schedule: one Chaos Mesh Workflow; each fault application (timeline.flatten)
  is a Serial of a Suspend (its start) and the chaos (its length as deadline);
- load: Locust in distributed mode (see locust.py).

Targets chaoskit draws at random (random-node, minority, `region: random`,
`{random: K, of: ...}`) are drawn here with the same seeded source a chaoskit
run uses, so the export hits the nodes a local run would hit. A fault without a
Chaos Mesh equivalent raises UnsupportedFault naming the fault and the reason;
nothing is dropped silently.
"""

from __future__ import annotations

import errno
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from chaoskit.experiment.spec import Experiment
from chaoskit.export.timeline import Step, flatten
from chaoskit.faults.base import FaultError
from chaoskit.faults.selectors import resolve_region, select_nodes
from chaoskit.topology.model import Topology
from chaoskit.units import millis

API_VERSION = "chaos-mesh.org/v1alpha1"
CHAOS_MESH_VERSION = "v2.6"
REGION_LABEL = "chaoskit.io/region"
ZONE_LABEL = "chaoskit.io/zone"
NODE_LABEL = "chaoskit.io/node"
# tc's token bucket for the bandwidth action (Chaos Mesh's documented example values).
BANDWIDTH_LIMIT = 20971520
BANDWIDTH_BUFFER = 10000


class ExportError(Exception):
    """The experiment or an option cannot be exported; the message says why."""


class UnsupportedFault(ExportError):
    """A schedule entry with no Chaos Mesh equivalent."""

    def __init__(self, experiment: Experiment, step: Step, reason: str) -> None:
        self.fault_id = step.fault_id
        self.kind = step.fault.kind
        self.reason = reason
        where = f"{experiment.source_path}:{step.fault.line}" if step.fault.line else ""
        prefix = f"{where}: " if where else ""
        super().__init__(
            f"{prefix}schedule: fault {step.fault_id} ({step.fault.kind}) has no Chaos Mesh "
            f"equivalent: {reason}"
        )


class NeedsOption(UnsupportedFault):
    """A schedule entry that exports only with an option the user did not give."""

    def __init__(self, experiment: Experiment, step: Step, option: str, reason: str) -> None:
        super().__init__(experiment, step, reason)
        self.option = option
        where = f"{experiment.source_path}:{step.fault.line}: " if step.fault.line else ""
        self.args = (
            f"{where}schedule: fault {step.fault_id} ({step.fault.kind}) needs {option}: {reason}",
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class ChaosMeshOptions:
    selector: dict[str, str]  # the user's labels that select the system's pods
    ports: dict[str, int]  # the system's port name -> container port
    namespace: str = "default"
    image: str = "chaoskit-node:latest"  # an image with chaoskit installed (Locust side)
    master_port: int = 5557
    data_path: str | None = None  # the node's data directory inside its pod (IOChaos volumePath)


@dataclass
class Export:
    """The manifests by file name (a list of objects per YAML file) and text files."""

    name: str
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def objects(self) -> list[dict[str, Any]]:
        return [doc for docs in self.manifests.values() for doc in docs]


# -- names and values ---------------------------------------------------------------


def k8s_name(*parts: str) -> str:
    """A DNS-1123 label from parts ("etcd_three", "F3#0" -> "etcd-three-f3-0"), <= 63 chars."""
    text = "-".join(p for p in parts if p)
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    return text[:63].rstrip("-") or "chaoskit"


def duration(seconds: float) -> str:
    """Seconds as a Go duration in whole milliseconds ("15000ms")."""
    return f"{round(seconds * 1000)}ms"


def fine(ms: float) -> str:
    """Milliseconds as a Go duration: whole ms as "150ms", finer as microseconds."""
    us = round(ms * 1000)
    return f"{us // 1000}ms" if us % 1000 == 0 else f"{us}us"


def half_ms(ms: float) -> str:
    """Half of a round trip, one direction's share, as a Go duration in microseconds."""
    return f"{round(ms * 500)}us"


# -- selectors ------------------------------------------------------------------------


class _RoleTarget(Exception):
    """Raised by the stand-in adapter: a target named a system role."""


class _NoRoles:
    kind = "kubernetes"

    def roles(self, ctx: Any) -> dict[str, list[str]]:
        raise _RoleTarget()


@dataclass
class _Context:
    experiment: Experiment
    options: ChaosMeshOptions

    @property
    def topology(self) -> Topology:
        return self.experiment.topology

    def selector_ctx(self) -> Any:
        """What chaoskit's own selector functions read: topology, node names, roles."""
        nodes = [n.name for n in self.topology.nodes]
        return SimpleNamespace(
            topology=self.topology, node_names=nodes, adapter=_NoRoles(), system=None
        )

    def rng(self, step: Step) -> Any:
        import random

        return random.Random(f"{self.experiment.seed}:{step.fault_id}")

    def nodes(self, step: Step, sel: Any, rng: Any = None) -> list[str]:
        try:
            return select_nodes(self.selector_ctx(), sel, rng or self.rng(step))
        except FaultError as e:
            if isinstance(e.__cause__, _RoleTarget):
                raise UnsupportedFault(
                    self.experiment,
                    step,
                    f"the target {sel!r} names a role the running system gives; Chaos Mesh "
                    "selects pods by labels (name nodes, a region or a zone instead)",
                ) from None
            raise UnsupportedFault(self.experiment, step, str(e)) from None

    def region(self, step: Step, name: str) -> str:
        return resolve_region(self.selector_ctx(), name, self.rng(step))

    def base(self, **labels: str) -> dict[str, Any]:
        return {
            "namespaces": [self.options.namespace],
            "labelSelectors": {**self.options.selector, **labels},
        }

    def pods_of_nodes(self, nodes: list[str]) -> dict[str, Any]:
        """The narrowest label selector for exactly these nodes."""
        t = self.topology
        if set(nodes) == {n.name for n in t.nodes}:
            return self.base()
        for r in t.regions:
            if set(nodes) == {n.name for n in t.nodes_in(r.name)}:
                return self.base(**{REGION_LABEL: r.name})
            for z in r.zones:
                if set(nodes) == {n.name for n in t.nodes_in_zone(z.name)}:
                    return self.base(**{ZONE_LABEL: z.name})
        if len(nodes) == 1:
            return self.base(**{NODE_LABEL: nodes[0]})
        sel = self.base()
        sel["expressionSelectors"] = [{"key": NODE_LABEL, "operator": "In", "values": nodes}]
        return sel

    def pods_of_regions(self, regions: list[str], negate: bool = False) -> dict[str, Any]:
        if len(regions) == 1 and not negate:
            return self.base(**{REGION_LABEL: regions[0]})
        sel = self.base()
        op = "NotIn" if negate else "In"
        sel["expressionSelectors"] = [{"key": REGION_LABEL, "operator": op, "values": regions}]
        return sel


# -- faults ---------------------------------------------------------------------------

Chaos = tuple[str, dict[str, Any]]  # (templateType, spec)


@dataclass
class Phases:
    """Chaos that changes during its step: (seconds, chaos run together) one after another;
    an empty list is a pause. The workflow makes it a Serial."""

    phases: list[tuple[float, list[Chaos]]]


Mapper = Callable[[_Context, Step], "list[Chaos] | Phases"]
# A Workflow of thousands of templates is slow for the controller to reconcile: a fault
# that changes faster than this many phases per step is refused with the numbers.
MAX_PHASES = 120


def _partition(ctx: _Context, a: list[str], b: list[str] | None, direction: str) -> Chaos:
    """Drop packets between the pods of regions `a` and `b` (None: every other region)."""
    target = ctx.pods_of_regions(a, negate=True) if b is None else ctx.pods_of_regions(b)
    return (
        "NetworkChaos",
        {
            "action": "partition",
            "mode": "all",
            "selector": ctx.pods_of_regions(a),
            "direction": direction,
            "target": {"mode": "all", "selector": target},
        },
    )


def _blackhole_only(ctx: _Context, step: Step) -> None:
    if step.fault.params.get("mode", "blackhole") != "blackhole":
        raise UnsupportedFault(
            ctx.experiment,
            step,
            "mode refuse (connections refused/reset) has no Chaos Mesh equivalent: a "
            "NetworkChaos partition drops packets, which is mode blackhole",
        )


def _cut_region(ctx: _Context, step: Step) -> list[Chaos]:
    _blackhole_only(ctx, step)
    return [_partition(ctx, [ctx.region(step, step.fault.params["region"])], None, "both")]


def _groups(ctx: _Context, groups: list[list[str]]) -> list[list[str]]:
    named = {r for g in groups for r in g}
    rest = [r for r in ctx.topology.region_names if r not in named]
    return [list(g) for g in groups] + ([rest] if rest else [])


def _partition_groups(ctx: _Context, step: Step) -> list[Chaos]:
    _blackhole_only(ctx, step)
    groups = _groups(ctx, step.fault.params["groups"])
    return [
        _partition(ctx, groups[i], groups[j], "both")
        for i in range(len(groups))
        for j in range(i + 1, len(groups))
    ]


def _bridge(ctx: _Context, step: Step) -> list[Chaos]:
    _blackhole_only(ctx, step)
    a, b = step.fault.params["halves"]
    return [_partition(ctx, list(a), list(b), "both")]


def _isolate_node(ctx: _Context, step: Step) -> list[Chaos]:
    _blackhole_only(ctx, step)
    nodes = ctx.nodes(step, step.fault.params["target"])
    out: list[Chaos] = []
    for region in dict.fromkeys(ctx.topology.node(n).region for n in nodes):
        mine = [n for n in nodes if ctx.topology.node(n).region == region]
        out.append(
            (
                "NetworkChaos",
                {
                    "action": "partition",
                    "mode": "all",
                    "selector": ctx.pods_of_nodes(mine),
                    "direction": "both",
                    "target": {"mode": "all", "selector": ctx.pods_of_regions([region], True)},
                },
            )
        )
    return out


def _node_partition(ctx: _Context, a: list[str], b: list[str]) -> Chaos:
    return (
        "NetworkChaos",
        {
            "action": "partition",
            "mode": "all",
            "selector": ctx.pods_of_nodes(a),
            "direction": "both",
            "target": {"mode": "all", "selector": ctx.pods_of_nodes(b)},
        },
    )


def _between_groups(ctx: _Context, groups: list[list[str]]) -> list[Chaos]:
    groups = [g for g in groups if g]
    return [
        _node_partition(ctx, groups[i], groups[j])
        for i in range(len(groups))
        for j in range(i + 1, len(groups))
    ]


def _cut_zone(ctx: _Context, step: Step) -> list[Chaos]:
    from chaoskit.faults.domains import resolve_zone

    _blackhole_only(ctx, step)
    zone = resolve_zone(ctx.selector_ctx(), step.fault.params.get("zone"), ctx.rng(step))
    target = ctx.base()
    target["expressionSelectors"] = [{"key": ZONE_LABEL, "operator": "NotIn", "values": [zone]}]
    spec = {
        "action": "partition",
        "mode": "all",
        "selector": ctx.base(**{ZONE_LABEL: zone}),
        "direction": "both",
        "target": {"mode": "all", "selector": target},
    }
    return [("NetworkChaos", spec)]


def _partition_nodes(ctx: _Context, step: Step) -> list[Chaos]:
    from chaoskit.faults.domains import _node_groups

    _blackhole_only(ctx, step)
    try:
        groups = _node_groups(
            ctx.selector_ctx(), step.fault.params.get("groups") or [], ctx.rng(step)
        )
    except FaultError as e:
        if isinstance(e.__cause__, _RoleTarget):
            raise UnsupportedFault(
                ctx.experiment, step, "a group names a role; Chaos Mesh selects pods by labels"
            ) from None
        raise UnsupportedFault(ctx.experiment, step, str(e)) from None
    return _between_groups(ctx, groups)


def _random_halves(ctx: _Context, step: Step) -> list[Chaos]:
    _blackhole_only(ctx, step)
    nodes = [n.name for n in ctx.topology.nodes]
    ctx.rng(step).shuffle(nodes)  # the fault's own seeded draw, as a chaoskit run makes it
    k = len(nodes) // 2
    return _between_groups(ctx, [sorted(nodes[:k]), sorted(nodes[k:])])


def _majorities_ring(ctx: _Context, step: Step) -> list[Chaos]:
    from chaoskit.faults.domains import majorities_ring_pairs

    _blackhole_only(ctx, step)
    nodes = [n.name for n in ctx.topology.nodes]
    ctx.rng(step).shuffle(nodes)
    try:
        pairs = majorities_ring_pairs(nodes)
    except FaultError as e:
        raise UnsupportedFault(ctx.experiment, step, str(e)) from None
    order = {n: i for i, n in enumerate(n.name for n in ctx.topology.nodes)}
    return [
        _node_partition(ctx, [a], [b])
        for a, b in sorted(tuple(sorted(p, key=order.__getitem__)) for p in pairs)
    ]


def _region_pairs(ctx: _Context, step: Step) -> list[tuple[str, str]]:
    """The region pairs a link selector covers; both directions of each, or refused."""
    sel = step.fault.params["links"]
    regions = ctx.topology.region_names
    every = [(a, b) for i, a in enumerate(regions) for b in regions[i + 1 :]]
    if sel == "all":
        return every
    if "between" in sel:
        a, b = sel["between"]
        return [(a, b) if regions.index(a) < regions.index(b) else (b, a)]
    if "region" in sel:
        return [p for p in every if sel["region"] in p]
    directed: set[tuple[str, str]] = set()
    for name in sel.get("names", []):
        source, _, rest = name.partition("->")
        node = rest.rsplit(":", 1)[0]
        try:
            directed.add((source, ctx.topology.node(node).region))
        except KeyError:
            raise UnsupportedFault(ctx.experiment, step, f"unknown link {name!r}") from None
    one_way = sorted(f"{a}->{b}" for a, b in directed if (b, a) not in directed)
    if one_way:
        raise UnsupportedFault(
            ctx.experiment,
            step,
            f"links of one direction only ({', '.join(one_way)}): NetworkChaos acts on "
            "packets, so a delay between two regions slows both directions; name both",
        )
    return [p for p in every if p in directed]


def _delay(ctx: _Context, a: str, b: str, rtt_ms: float, jitter_ms: float) -> Chaos:
    return (
        "NetworkChaos",
        {
            "action": "delay",
            "mode": "all",
            "selector": ctx.pods_of_regions([a]),
            "direction": "both",
            "target": {"mode": "all", "selector": ctx.pods_of_regions([b])},
            "delay": {
                "latency": half_ms(rtt_ms),
                "jitter": half_ms(jitter_ms),
                "correlation": "0",
            },
        },
    )


def _latency(ctx: _Context, step: Step) -> list[Chaos]:
    p = step.fault.params
    out: list[Chaos] = []
    for a, b in _region_pairs(ctx, step):
        base = ctx.topology.rtt(a, b)
        rtt, jitter = p["rtt"] * 1000.0, (p.get("jitter") or 0.0) * 1000.0
        if p.get("mode", "set") == "add":
            rtt, jitter = base.rtt_ms + rtt, base.jitter_ms + jitter
        if rtt < base.rtt_ms:
            # Chaos Mesh merges the delays on one pod by taking the largest.
            raise UnsupportedFault(
                ctx.experiment,
                step,
                f"it lowers the RTT of {a}-{b} below the base {base.rtt_ms:g} ms; Chaos Mesh "
                "keeps the largest delay set on a pod, so a fault can only raise it",
            )
        out.append(_delay(ctx, a, b, rtt, jitter))
    return out


def _bandwidth(ctx: _Context, step: Step) -> list[Chaos]:
    rate = max(1, round(float(step.fault.params["rate_kbps"]) * 1000))  # KB/s -> bytes/s
    out: list[Chaos] = []
    for a, b in _region_pairs(ctx, step):
        out.append(
            (
                "NetworkChaos",
                {
                    "action": "bandwidth",
                    "mode": "all",
                    "selector": ctx.pods_of_regions([a]),
                    "direction": "both",
                    "target": {"mode": "all", "selector": ctx.pods_of_regions([b])},
                    "bandwidth": {
                        "rate": f"{rate}bps",
                        "limit": BANDWIDTH_LIMIT,
                        "buffer": BANDWIDTH_BUFFER,
                    },
                },
            )
        )
    return out


def _pod_failure(ctx: _Context, step: Step) -> list[Chaos]:
    nodes = ctx.nodes(step, step.fault.params["target"])
    return [
        (
            "PodChaos",
            {"action": "pod-failure", "mode": "all", "selector": ctx.pods_of_nodes(nodes)},
        )
    ]


def _clock_skew(ctx: _Context, step: Step) -> list[Chaos]:
    p = step.fault.params
    if p.get("offset") is None:
        raise UnsupportedFault(
            ctx.experiment,
            step,
            "an absolute `time` has no equivalent: TimeChaos shifts clocks by a timeOffset "
            "(give `offset` instead)",
        )
    nodes = ctx.nodes(step, p["target"])
    offset_ms = round(float(p["offset"]) * 1000)
    return [
        (
            "TimeChaos",
            {
                "mode": "all",
                "selector": ctx.pods_of_nodes(nodes),
                "timeOffset": f"{offset_ms}ms",
                "clockIds": ["CLOCK_REALTIME"],
            },
        )
    ]


def _clock_bump(ctx: _Context, step: Step) -> list[Chaos]:
    """One TimeChaos per target, each with its own offset from [-max, +max], drawn from the
    fault's seeded source after the targets, as a chaoskit run draws them."""
    p = step.fault.params
    span = millis(p.get("max", 0), "max")
    rng = ctx.rng(step)
    nodes = ctx.nodes(step, p.get("target", "random-node"), rng)
    offsets = {n: round(rng.uniform(-span, span), 3) for n in nodes}
    return [_time_chaos(ctx, [n], offsets[n]) for n in nodes]


def _time_chaos(ctx: _Context, nodes: list[str], offset_ms: float) -> Chaos:
    return (
        "TimeChaos",
        {
            "mode": "all",
            "selector": ctx.pods_of_nodes(nodes),
            "timeOffset": fine(offset_ms),
            "clockIds": ["CLOCK_REALTIME"],
        },
    )


def _phase_count(ctx: _Context, step: Step, phase_s: float) -> int:
    count = max(1, math.ceil(step.length_s / phase_s - 1e-9))
    if count > MAX_PHASES:
        raise UnsupportedFault(
            ctx.experiment,
            step,
            f"its {duration(step.length_s)} in phases of {duration(phase_s)} would be {count} "
            f"workflow steps (at most {MAX_PHASES} export); give a longer period or a shorter `for`",
        )
    return count


def _phase_lengths(step: Step, phase_s: float, count: int) -> list[float]:
    return [min(phase_s, step.length_s - i * phase_s) for i in range(count)]


def _clock_strobe(ctx: _Context, step: Step) -> Phases:
    """Alternating TimeChaos steps, high first, each half a period (between two steps the
    clock is real for as long as Chaos Mesh takes to swap them)."""
    p = step.fault.params
    low, high = millis(p.get("low", 0), "low"), millis(p.get("high", 0), "high")
    half = millis(p["period"], "period") / 2000.0
    nodes = ctx.nodes(step, p["target"])
    count = _phase_count(ctx, step, half)
    phases: list[tuple[float, list[Chaos]]] = []
    for i, length in enumerate(_phase_lengths(step, half, count)):
        offset = high if i % 2 == 0 else low
        phases.append((length, [_time_chaos(ctx, nodes, offset)] if offset else []))
    return Phases(phases)


CONGESTION_STEPS = 8  # phases per period: the level at each phase's middle


def _congestion(ctx: _Context, step: Step) -> Phases:
    """The rise and fall of the RTT as a staircase: eight NetworkChaos delay phases per
    period, each adding rtt x level (level = (1 - cos 2 pi t/period)/2 at the phase's middle)
    on top of the base RTT of each region pair."""
    p = step.fault.params
    if float(p.get("loss") or 0) > 0:
        raise UnsupportedFault(
            ctx.experiment,
            step,
            "its `loss` stalls new TCP connections (a Toxiproxy timeout toxic); a NetworkChaos "
            "loss drops packets, a different fault (give loss: 0 to export the latency part)",
        )
    rtt, jitter = millis(p.get("rtt", 0), "rtt"), millis(p.get("jitter", 0), "jitter")
    period = millis(p["period"], "period") / 1000.0
    phase = period / CONGESTION_STEPS
    pairs = _region_pairs(ctx, step)
    phases: list[tuple[float, list[Chaos]]] = []
    for i, length in enumerate(_phase_lengths(step, phase, _phase_count(ctx, step, phase))):
        level = (1 - math.cos(2 * math.pi * ((i + 0.5) * phase) / period)) / 2
        chaos = []
        for a, b in pairs:
            base = ctx.topology.rtt(a, b)
            chaos.append(
                _delay(ctx, a, b, base.rtt_ms + rtt * level, base.jitter_ms + jitter * level)
            )
        phases.append((length, chaos))
    return Phases(phases)


def _stress_cpu(ctx: _Context, step: Step) -> list[Chaos]:
    """stress-ng --cpu N in the pod's cgroup, sharing its CPU and quota, as cpu-hog does."""
    nodes = ctx.nodes(step, step.fault.params["target"])
    workers = int(step.fault.params.get("workers", 1))
    spec = {
        "mode": "all",
        "selector": ctx.pods_of_nodes(nodes),
        "stressors": {"cpu": {"workers": workers, "load": 100}},
    }
    return [("StressChaos", spec)]


IO_METHODS = {"fsync": ["fsync"], "write": ["write"], "both": ["write", "fsync"]}


def _io_chaos(ctx: _Context, step: Step, spec: dict[str, Any]) -> Chaos:
    if not ctx.options.data_path:
        raise NeedsOption(
            ctx.experiment,
            step,
            "--data-path",
            "IOChaos acts on one volume of the pod; give the node's data directory inside its "
            "pod, e.g. --data-path /var/lib/postgresql/data",
        )
    nodes = ctx.nodes(step, step.fault.params["target"])
    return (
        "IOChaos",
        {
            "mode": "all",
            "selector": ctx.pods_of_nodes(nodes),
            "volumePath": ctx.options.data_path,
            **spec,
        },
    )


def _disk_error(ctx: _Context, step: Step) -> list[Chaos]:
    p = step.fault.params
    name = str(p.get("errno", "EIO"))
    percent = max(1, round(float(p.get("probability", 1.0)) * 100))
    spec = {
        "action": "fault",
        "errno": getattr(errno, name),
        "methods": IO_METHODS[p.get("op", "fsync")],
        "percent": percent,
    }
    return [_io_chaos(ctx, step, spec)]


def _slow_fsync(ctx: _Context, step: Step) -> list[Chaos]:
    delay = millis(step.fault.params["delay"], "delay")
    spec = {
        "action": "latency",
        "delay": fine(delay),
        "methods": ["fsync"],
        "percent": 100,
    }
    return [_io_chaos(ctx, step, spec)]


def _disk_full(ctx: _Context, step: Step) -> list[Chaos]:
    """ENOSPC on every write and fsync of the data volume, for `how: shim` and `how: fill`
    alike: IOChaos cannot fill a file system, it fails the calls a full one fails."""
    spec = {
        "action": "fault",
        "errno": errno.ENOSPC,
        "methods": IO_METHODS["both"],
        "percent": 100,
    }
    return [_io_chaos(ctx, step, spec)]


# fault kind -> how it becomes Chaos Mesh objects
MAPPERS: dict[str, Mapper] = {
    "cut-region": _cut_region,
    "partition": _partition_groups,
    "bridge": _bridge,
    "isolate-node": _isolate_node,
    "cut-zone": _cut_zone,
    "partition-nodes": _partition_nodes,
    "random-halves": _random_halves,
    "majorities-ring": _majorities_ring,
    "latency": _latency,
    "bandwidth": _bandwidth,
    "kill": _pod_failure,  # the pod is down for `for`, then back (pod-failure)
    "stop": _pod_failure,
    "clock-skew": _clock_skew,
    "clock-bump": _clock_bump,
    "clock-strobe": _clock_strobe,
    "congestion": _congestion,
    "cpu-hog": _stress_cpu,
    "disk-error": _disk_error,
    "slow-fsync": _slow_fsync,
    "disk-full": _disk_full,
}

# fault kind -> why it has no Chaos Mesh equivalent
REFUSED: dict[str, str] = {
    "one-way": "chaoskit cuts the connections opened from `from` to `to` and keeps the "
    "reverse ones; NetworkChaos drops packets in one direction, which breaks TCP both ways",
    "flaky": "Toxiproxy's reset_peer/timeout/slicer act on TCP streams; NetworkChaos acts on "
    "packets (loss, corruption), which is a different fault",
    "pause": "SIGSTOP keeps the process and its connections frozen; PodChaos can only kill "
    "or fail a pod (its state is lost)",
    "start": "Kubernetes restarts failed pods by itself; there is no start action",
    "clock-reset": "a TimeChaos ends with its step; there is no reset action",
    "degrade-quorum": "membership changes go through the system's own API (the chaoskit "
    "adapter); Chaos Mesh has no membership fault",
    "restore-quorum": "membership changes go through the system's own API (the chaoskit "
    "adapter); Chaos Mesh has no membership fault",
    "clock-drift": "it changes the clock's rate; TimeChaos only shifts a clock by a fixed "
    "timeOffset and has no rate",
    "cpu-limit": "it lowers the pod's CPU quota; Chaos Mesh cannot change a pod's resource "
    "limits (a StressChaos adds load, it does not throttle): set resources.limits.cpu, or "
    "use cpu-hog",
    "io-hog": "StressChaos v2.6 has only cpu and memory stressors; its stressngStressors "
    "string (where --hdd would go) is dropped by the v2.6 controller, so nothing would run, "
    "and chaos-daemon's stress-ng would not write in the container's file system anyway",
    "memory-limit": "it lowers the pod's memory limit (the OOM killer acts); Chaos Mesh cannot "
    "change a pod's resource limits (a StressChaos memory stressor only occupies memory): set "
    "resources.limits.memory",
}


def chaos_for(ctx: _Context, step: Step) -> list[Chaos] | Phases:
    kind = step.fault.kind
    if kind in REFUSED:
        raise UnsupportedFault(ctx.experiment, step, REFUSED[kind])
    mapper = MAPPERS.get(kind)
    if mapper is None:
        raise UnsupportedFault(
            ctx.experiment,
            step,
            "the export has no mapping for it; faults that export: " + ", ".join(sorted(MAPPERS)),
        )
    return mapper(ctx, step)


# -- objects --------------------------------------------------------------------------


def _meta(ctx: _Context, name: str, **labels: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": ctx.options.namespace,
        "labels": {
            "app.kubernetes.io/managed-by": "chaoskit",
            "chaoskit.io/experiment": _exp(ctx),
            **labels,
        },
    }


def _exp(ctx: _Context) -> str:
    return k8s_name(ctx.experiment.name)


def latency_objects(ctx: _Context) -> list[dict[str, Any]]:
    """One NetworkChaos delay per region pair with a non-zero RTT, and one per pair of
    zones of one region (data centres of a city), running until deleted."""
    t = ctx.topology
    pairs: list[tuple[str, str, str, Any]] = [
        (REGION_LABEL, a, b, lat) for (a, b), lat in sorted(t.latency.items())
    ]
    for r in t.regions:
        zones = [z.name for z in r.zones if t.nodes_in_zone(z.name)]
        for i, a in enumerate(zones):
            for b in zones[i + 1 :]:
                pairs.append((ZONE_LABEL, a, b, t.zone_rtt(a, b)))
    out = []
    for label, a, b, lat in pairs:
        if lat.rtt_ms <= 0:
            continue
        kind, spec = _delay(ctx, a, b, lat.rtt_ms, lat.jitter_ms)
        spec["selector"] = ctx.base(**{label: a})
        spec["target"]["selector"] = ctx.base(**{label: b})
        out.append(
            {
                "apiVersion": API_VERSION,
                "kind": kind,
                "metadata": _meta(ctx, k8s_name(_exp(ctx), "rtt", a, b)),
                "spec": spec,
            }
        )
    return out


# templateType -> the field of a Workflow template that holds its spec
TEMPLATE_KEYS = {
    "NetworkChaos": "networkChaos",
    "PodChaos": "podChaos",
    "TimeChaos": "timeChaos",
    "StressChaos": "stressChaos",
    "IOChaos": "ioChaos",
}


def _chaos_templates(
    templates: list[dict[str, Any]], name: str, chaos: list[Chaos], seconds: float
) -> str:
    """Templates running `chaos` together for `seconds` (a Suspend when there is none);
    returns the name of the one to run."""
    deadline = duration(seconds)
    if not chaos:
        templates.append({"name": name, "templateType": "Suspend", "deadline": deadline})
        return name
    bodies = []
    for j, (kind, spec) in enumerate(chaos):
        body = name if len(chaos) == 1 else k8s_name(name, str(j))
        key = TEMPLATE_KEYS[kind]
        templates.append(
            {
                "name": body,
                "templateType": kind,
                "deadline": deadline,
                key: {**spec, "duration": deadline},
            }
        )
        bodies.append(body)
    if len(bodies) == 1:
        return bodies[0]
    run = k8s_name(name, "all")
    templates.append({"name": run, "templateType": "Parallel", "children": bodies})
    return run


def workflow(ctx: _Context, steps: list[Step]) -> dict[str, Any] | None:
    """The schedule as one Workflow: a Parallel of one Serial (wait, chaos) per step."""
    if not steps:
        return None
    templates: list[dict[str, Any]] = []
    children: list[str] = []
    for i, step in enumerate(steps):
        chaos = chaos_for(ctx, step)
        name = k8s_name(f"s{i}", step.fault_id, step.fault.kind)
        if isinstance(chaos, Phases):
            parts = [
                _chaos_templates(templates, k8s_name(name, f"p{j}"), phase, seconds)
                for j, (seconds, phase) in enumerate(chaos.phases)
            ]
            run = k8s_name(name, "phases")
            templates.append({"name": run, "templateType": "Serial", "children": parts})
        else:
            run = _chaos_templates(templates, name, chaos, step.length_s)
        if step.start_s > 0:
            wait = k8s_name(name, "wait")
            templates.append(
                {"name": wait, "templateType": "Suspend", "deadline": duration(step.start_s)}
            )
            serial = k8s_name(name, "at")
            templates.append({"name": serial, "templateType": "Serial", "children": [wait, run]})
            run = serial
        children.append(run)
    templates.insert(0, {"name": "schedule", "templateType": "Parallel", "children": children})
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": _meta(ctx, k8s_name(_exp(ctx), "schedule")),
        "spec": {"entry": "schedule", "templates": templates},
    }


def node_services(ctx: _Context) -> list[dict[str, Any]]:
    """One Service per node: `<experiment>-<node>` on the system's ports."""
    out = []
    for node in ctx.topology.nodes:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(ctx, service_name(ctx.experiment, node.name)),
                "spec": {
                    "selector": {**ctx.options.selector, NODE_LABEL: node.name},
                    "publishNotReadyAddresses": True,
                    "ports": [
                        {"name": k8s_name(port), "port": number, "targetPort": number}
                        for port, number in ctx.options.ports.items()
                    ],
                },
            }
        )
    return out


def service_name(experiment: Experiment, node: str) -> str:
    return k8s_name(experiment.name, node)


def label_script(ctx: _Context) -> str:
    """Shell script: label the selected pods with their node, zone and region."""
    sel = ",".join(f"{k}={v}" for k, v in ctx.options.selector.items())
    nodes = ctx.topology.nodes
    lines = [
        "#!/bin/sh",
        f"# Give the pods selected by {sel} their place in the topology of",
        f"# {ctx.experiment.name}: the i-th pod by name (version sort) is the i-th node.",
        "set -eu",
        f'NS="${{NAMESPACE:-{ctx.options.namespace}}}"',
        f"pods=$(kubectl -n \"$NS\" get pods -l '{sel}' "
        "-o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}' | sort -V)",
        'count=$(printf "%s\\n" "$pods" | grep -c . || true)',
        f'if [ "$count" -ne {len(nodes)} ]; then',
        f'  echo "label-pods: {sel} selects $count pods in $NS; the topology has {len(nodes)} nodes" >&2',
        "  exit 1",
        "fi",
        "set -- $pods",
    ]
    for node in nodes:
        lines.append(
            f'kubectl -n "$NS" label --overwrite pod "$1" {REGION_LABEL}={node.region} '
            f"{ZONE_LABEL}={node.zone} {NODE_LABEL}={node.name}"
        )
        lines.append("shift")
    return "\n".join(lines) + "\n"


def export_chaos_mesh(experiment: Experiment, options: ChaosMeshOptions) -> Export:
    """Every manifest of the experiment; raises ExportError / UnsupportedFault."""
    from chaoskit.export import locust
    from chaoskit.systems import get_adapter

    ctx = _Context(experiment, options)
    adapter_ports = get_adapter(experiment.system.kind).ports
    missing = [p for p in adapter_ports if p not in options.ports]
    if missing:
        raise ExportError(
            f"--port: {experiment.system.kind} nodes serve the ports "
            f"{', '.join(adapter_ports)}; give each as --port NAME=NUMBER (missing: "
            f"{', '.join(missing)})"
        )
    extra = [p for p in options.ports if p not in adapter_ports]
    if extra:
        raise ExportError(
            f"--port: {experiment.system.kind} has no port {', '.join(map(repr, extra))}; "
            f"its ports are {', '.join(adapter_ports)}"
        )
    if options.data_path is not None and not options.data_path.startswith("/"):
        raise ExportError(
            f"--data-path {options.data_path!r}: give the absolute path of the node's data "
            "directory inside its pod, e.g. /var/lib/etcd"
        )
    if not options.selector:
        raise ExportError("--selector: give the labels of the system's pods, e.g. app=etcd")
    steps = flatten(experiment)
    out = Export(name=_exp(ctx))
    out.texts["label-pods.sh"] = label_script(ctx)
    out.manifests["topology.yaml"] = node_services(ctx)
    out.manifests["latency.yaml"] = latency_objects(ctx)
    wf = workflow(ctx, steps)
    if wf is not None:
        out.manifests["workflow.yaml"] = [wf]
    out.manifests["locust.yaml"] = locust.objects(ctx, steps)
    return out
