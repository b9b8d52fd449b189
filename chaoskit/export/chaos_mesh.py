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


@dataclass
class ChaosMeshOptions:
    selector: dict[str, str]  # the user's labels that select the system's pods
    ports: dict[str, int]  # the system's port name -> container port
    namespace: str = "default"
    image: str = "chaoskit-node:latest"  # an image with chaoskit installed (Locust side)
    master_port: int = 5557


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

    def nodes(self, step: Step, sel: Any) -> list[str]:
        try:
            return select_nodes(self.selector_ctx(), sel, self.rng(step))
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
Mapper = Callable[[_Context, Step], list[Chaos]]


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
}


def chaos_for(ctx: _Context, step: Step) -> list[Chaos]:
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


def workflow(ctx: _Context, steps: list[Step]) -> dict[str, Any] | None:
    """The schedule as one Workflow: a Parallel of one Serial (wait, chaos) per step."""
    if not steps:
        return None
    templates: list[dict[str, Any]] = []
    children: list[str] = []
    for i, step in enumerate(steps):
        chaos = chaos_for(ctx, step)
        name = k8s_name(f"s{i}", step.fault_id, step.fault.kind)
        deadline = duration(step.length_s)
        bodies = []
        for j, (kind, spec) in enumerate(chaos):
            body = name if len(chaos) == 1 else k8s_name(name, str(j))
            key = kind[0].lower() + kind[1:]
            templates.append(
                {
                    "name": body,
                    "templateType": kind,
                    "deadline": deadline,
                    key: {**spec, "duration": deadline},
                }
            )
            bodies.append(body)
        run = bodies[0]
        if len(bodies) > 1:
            run = k8s_name(name, "all")
            templates.append({"name": run, "templateType": "Parallel", "children": bodies})
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
