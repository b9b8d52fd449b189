"""Network faults between regions, and on single nodes.

A link is one proxy per (source, destination node, port): its upstream stream
carries source -> node bytes, its downstream stream node -> source bytes. The
source is a region (the load clients placed there) or, for node links, a node
(the local backend links every node to every peer, so nodes of one region can be
separated too: see domains.py for zone and node-group faults). Region faults act
on the links that cross region borders; links inside a region stay up.

Overlapping faults are tracked by `chaoskit.faults.overlay.LinkOverlay`, so heals
can come in any order and the links end where they began.
"""

from __future__ import annotations

from typing import Any

from chaoskit.faults import domains
from chaoskit.faults.base import (
    CUTS_LINKS,
    DEGRADES_LINKS,
    MODE,
    TARGET,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    RuleScope,
)
from chaoskit.faults.selectors import resolve_region, select_links, select_nodes
from chaoskit.topology.model import AddressPlan, Latency, LinkSpec
from chaoskit.units import millis

FLAKY_KINDS: tuple[str, ...] = ("reset_peer", "timeout", "slicer")


def _mode(params: dict[str, Any]) -> str:
    mode = params.get("mode", "blackhole")
    if mode not in ("blackhole", "refuse"):
        raise FaultError(f"mode must be blackhole or refuse, got {mode!r}")
    return mode


def _names(specs: list[LinkSpec]) -> list[str]:
    return sorted({s.name for s in specs})


def _cut_applied(
    ctx: FaultContext, fid: str, names: list[str], targets: dict[str, Any], **kw: str
) -> Applied:
    ctx.overlay.cut(fid, names, **kw)
    targets["links"] = names
    return Applied(targets=targets, heal=lambda: ctx.overlay.uncut(fid))


def _between(plan: AddressPlan, a: set[str], b: set[str]) -> list[LinkSpec]:
    """Links from a region in `a` to a node in `b` and vice versa."""
    return [
        s
        for s in plan.links.values()
        if (s.source_region in a and s.dest_region in b)
        or (s.source_region in b and s.dest_region in a)
    ]


def cut_region(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Every link into and out of the region, both directions."""
    region = resolve_region(ctx, params.get("region"), ctx.rng_for(fid))
    names = _names(ctx.plan.links_touching(region))
    targets = {"regions": [region], "nodes": [n.name for n in ctx.topology.nodes_in(region)]}
    return _cut_applied(ctx, fid, names, targets, direction="both", mode=_mode(params))


def _groups(ctx: FaultContext, groups: list[list[str]]) -> list[set[str]]:
    all_regions = set(ctx.topology.region_names)
    out = [set(g) for g in groups]
    named = set().union(*out) if out else set()
    unknown = named - all_regions
    if unknown:
        raise FaultError(
            f"unknown regions {sorted(unknown)}; regions: {', '.join(sorted(all_regions))}"
        )
    rest = all_regions - named
    if rest:
        out.append(rest)  # regions not named form one more group
    return out


def partition(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Cut every link between regions of different groups."""
    groups = _groups(ctx, params.get("groups") or [])
    specs: list[LinkSpec] = []
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:
            specs += _between(ctx.plan, a, b)
    targets = {"groups": [sorted(g) for g in groups], "regions": sorted(set().union(*groups))}
    return _cut_applied(ctx, fid, _names(specs), targets, direction="both", mode=_mode(params))


def bridge(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Two halves cannot talk; the bridge region keeps its links to both."""
    halves = params.get("halves") or []
    if len(halves) != 2:
        raise FaultError("bridge needs `halves`: two lists of regions")
    b = params.get("bridge")
    a_half = set(halves[0]) - {b}
    b_half = set(halves[1]) - {b}
    _groups(ctx, [sorted(a_half), sorted(b_half)])  # validates names
    specs = _between(ctx.plan, a_half, b_half)
    targets = {
        "halves": [sorted(a_half), sorted(b_half)],
        "bridge": b,
        "regions": sorted(a_half | b_half),
    }
    return _cut_applied(ctx, fid, _names(specs), targets, direction="both", mode=_mode(params))


def one_way(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Bytes from `from` to `to` are dropped; the reverse direction flows.

    `from`/`to` are regions (every link between them, clients' included) or node
    selectors (node links only). On links opened by `from` towards `to` that is
    the upstream stream; on links opened by `to` towards `from` the downstream.
    """
    mode = _mode(params)
    if mode == "refuse":
        raise FaultError("one-way cannot use mode refuse (a refused link is down both ways)")
    if isinstance(params.get("from"), dict) or isinstance(params.get("to"), dict):
        src_nodes, dst_nodes, up_specs, down_specs = domains.one_way_nodes(
            ctx, _as_selector(ctx, params.get("from")), _as_selector(ctx, params.get("to")), fid
        )
        up, down = _names(up_specs), _names(down_specs)
        targets: dict[str, Any] = {
            "nodes": src_nodes + dst_nodes,
            "from": src_nodes,
            "to": dst_nodes,
        }
    else:
        rng = ctx.rng_for(fid)
        src = resolve_region(ctx, params.get("from"), rng)
        dst = resolve_region(ctx, params.get("to"), rng)
        if src == dst:
            raise FaultError("one-way needs two different regions")
        up = _names(
            [s for s in ctx.plan.links.values() if s.source_region == src and s.dest_region == dst]
        )
        down = _names(
            [s for s in ctx.plan.links.values() if s.source_region == dst and s.dest_region == src]
        )
        targets = {"regions": [src, dst], "from": src, "to": dst}
    ctx.overlay.cut(fid, up, direction="upstream", mode=mode)
    try:
        ctx.overlay.cut(fid, down, direction="downstream", mode=mode)
    except BaseException:
        ctx.overlay.uncut(fid)
        raise
    targets["links"] = up + down
    return Applied(targets=targets, heal=lambda: ctx.overlay.uncut(fid))


def _as_selector(ctx: FaultContext, value: Any) -> Any:
    """A region name on one side of a node-level one-way means its nodes."""
    if isinstance(value, str) and value in ctx.topology.region_names:
        return {"region": value}
    return value


def isolate_node(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Every link into and out of the target nodes, both directions.

    With node links (local backend) that is every peer, region-mates and zone-mates
    included, and every region's clients. Without them (docker backend: a region's
    nodes share one network) only the links from other regions into the node.
    """
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    specs = [s for s in ctx.plan.links.values() if s.dest_node in nodes or s.source_node in nodes]
    return _cut_applied(
        ctx, fid, _names(specs), {"nodes": nodes}, direction="both", mode=_mode(params)
    )


def latency(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Set (or add to) the RTT and jitter of matching links."""
    specs = select_links(ctx, params.get("links", "all"))
    mode = params.get("mode", "set")
    if mode not in ("set", "add"):
        raise FaultError(f"latency mode must be set or add, got {mode!r}")
    lat = Latency(millis(params.get("rtt", 0), "rtt"), millis(params.get("jitter", 0), "jitter"))
    names = _names(specs)
    ctx.overlay.set_latency(fid, names, mode, lat)
    return Applied(
        targets={"links": names, "rtt_ms": lat.rtt_ms, "jitter_ms": lat.jitter_ms, "mode": mode},
        heal=lambda: ctx.overlay.unset_latency(fid),
    )


def _toxic_applied(
    ctx: FaultContext,
    fid: str,
    names: list[str],
    type_: str,
    attrs: dict[str, Any],
    toxicity: float,
    targets: dict,
) -> Applied:
    added: list[str] = []
    try:
        for stream in ("upstream", "downstream"):
            tname = f"chaoskit-{fid}-{type_}-{stream}"
            ctx.links.add_toxic(names, type_, attrs, stream=stream, toxicity=toxicity, name=tname)
            added.append(tname)
    except BaseException:
        for t in added:
            ctx.links.remove_toxic(names, t)
        raise

    def heal() -> None:
        for t in reversed(added):
            ctx.links.remove_toxic(names, t)

    targets["links"] = names
    return Applied(targets=targets, heal=heal)


def bandwidth(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Limit matching links to rate_kbps (KB/s, Toxiproxy's unit) in both directions."""
    rate = params.get("rate_kbps")
    if not isinstance(rate, int | float) or rate <= 0:
        raise FaultError(f"bandwidth needs rate_kbps > 0, got {rate!r}")
    names = _names(select_links(ctx, params.get("links", "all")))
    return _toxic_applied(
        ctx, fid, names, "bandwidth", {"rate": int(rate)}, 1.0, {"rate_kbps": rate}
    )


def flaky(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """A per-connection misbehaviour with probability = toxicity."""
    kind = params.get("kind", "reset_peer")
    p = float(params.get("probability", 1.0))
    if not 0.0 <= p <= 1.0:
        raise FaultError(f"probability must be within 0..1, got {p}")
    if kind == "reset_peer":
        attrs: dict[str, Any] = {"timeout": int(millis(params.get("timeout", 0), "timeout"))}
    elif kind == "timeout":
        attrs = {"timeout": int(millis(params.get("timeout", 0), "timeout"))}
    elif kind == "slicer":
        attrs = {
            "average_size": int(params.get("average_size", 64)),
            "size_variation": int(params.get("size_variation", 32)),
            "delay": int(params.get("delay_us", 1000)),
        }
    else:
        raise FaultError(f"flaky kind must be reset_peer, timeout or slicer, got {kind!r}")
    names = _names(select_links(ctx, params.get("links", "all")))
    return _toxic_applied(ctx, fid, names, kind, attrs, p, {"kind": kind, "probability": p})


_MODE = MODE
_LINKS = Param("links", "links", required=True, doc="which links (link selector)")


def _two_halves_apart(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if "halves" not in params or "bridge" not in params:
        return []
    if len(params["halves"]) != 2:
        return [("halves", f"bridge needs exactly two halves; got {len(params['halves'])}")]
    if any(params["bridge"] in h for h in params["halves"]):
        return [("bridge", f"the bridge region {params['bridge']!r} must not be in either half")]
    return []


def _two_groups(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if "groups" not in params:
        return []
    named = {r for g in params["groups"] for r in g}
    if len(params["groups"]) + (1 if set(scope.regions) - named else 0) < 2:
        return [
            (
                "groups",
                "a partition needs at least two groups (regions not named form one more group)",
            )
        ]
    return []


def _different_ends(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if params.get("from") is not None and params.get("from") == params.get("to"):
        return [("to", "from and to must be different regions")]
    return []


FAULTS = (
    FaultDef(
        "cut-region",
        "network",
        "Cut every link into and out of a region, both directions.",
        (
            Param("region", "region-or-random", required=True, doc='region name or "random"'),
            _MODE,
        ),
        effect=CUTS_LINKS,
        apply=cut_region,
    ),
    FaultDef(
        "partition",
        "network",
        "Split regions into groups that cannot reach each other; regions not named form one more group.",
        (
            Param("groups", "region-groups", required=True, doc="list of lists of region names"),
            _MODE,
        ),
        rules=(_two_groups,),
        effect=CUTS_LINKS,
        apply=partition,
    ),
    FaultDef(
        "bridge",
        "network",
        "Two halves cannot reach each other; the bridge region keeps its links to both.",
        (
            Param(
                "halves", "region-groups", required=True, doc="exactly two lists of region names"
            ),
            Param("bridge", "region", required=True, doc="region that still reaches both halves"),
            _MODE,
        ),
        rules=(_two_halves_apart,),
        effect=CUTS_LINKS,
        apply=bridge,
    ),
    FaultDef(
        "one-way",
        "network",
        "Traffic from `from` to `to` is dropped; the reverse direction still flows.",
        (
            Param("from", "region-or-selector", required=True, doc="region or node selector"),
            Param("to", "region-or-selector", required=True, doc="region or node selector"),
            _MODE,
        ),
        rules=(_different_ends,),
        effect=CUTS_LINKS,
        apply=one_way,
    ),
    FaultDef(
        "isolate-node",
        "network",
        "Cut every link into the target nodes from other regions.",
        (TARGET, _MODE),
        effect=CUTS_LINKS,
        apply=isolate_node,
    ),
    FaultDef(
        "latency",
        "network",
        "Set (or add to) the RTT and jitter of matching links.",
        (
            _LINKS,
            Param("rtt", "duration", required=True, doc="round-trip time, e.g. 200ms"),
            Param("jitter", "duration", default=0.0),
            Param("mode", "enum", default="set", choices=("set", "add")),
        ),
        effect=DEGRADES_LINKS,
        apply=latency,
    ),
    FaultDef(
        "bandwidth",
        "network",
        "Limit the bandwidth of matching links.",
        (_LINKS, Param("rate_kbps", "number", required=True, min=0, min_exclusive=True)),
        effect=DEGRADES_LINKS,
        apply=bandwidth,
    ),
    FaultDef(
        "flaky",
        "network",
        "Make matching links misbehave with a probability (Toxiproxy toxicity).",
        (
            _LINKS,
            Param("kind", "enum", required=True, choices=FLAKY_KINDS),
            Param("probability", "number", default=1.0, min=0, max=1),
            Param(
                "timeout",
                "duration",
                doc="reset_peer/timeout: delay before the reset/close (0 = hold forever for timeout)",
            ),
            Param("average_size", "int", min=1, doc="slicer: average slice size in bytes"),
            Param(
                "size_variation", "int", min=0, doc="slicer: variation of the slice size in bytes"
            ),
            Param("delay_us", "int", min=0, doc="slicer: delay between slices in microseconds"),
        ),
        effect=DEGRADES_LINKS,
        apply=flaky,
    ),
)
