"""Network faults below the region: data centres (zones) and single nodes.

They act on *node links* (one link per node and peer, see topology.model.LinkSpec),
which the local backend builds between every two nodes, region-mates included.
Node-group faults separate nodes from nodes; the load clients keep reaching every
node (as in Jepsen's partitions), except for `cut-zone`, which loses a data centre
for everyone: its nodes, and the clients of every region, including its own city.

    cut-zone          every link with one end in the zone and the other outside it
    partition-nodes   node groups (selectors) that cannot reach each other
    majorities-ring   every node sees a majority, no two nodes see the same one
    random-halves     the nodes shuffled from the seed, split in two halves
    one-way           (network.py) with node selectors: node links only
"""

from __future__ import annotations

import random
from typing import Any

from chaoskit.faults.base import (
    CUTS_LINKS,
    MODE,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    RuleScope,
)
from chaoskit.faults.selectors import select_nodes
from chaoskit.topology.model import AddressPlan, LinkSpec

NO_NODE_LINKS = (
    "this backend has no links between nodes of one region (the docker backend on "
    "several engines, --engines, routes a region's nodes directly); zone and node "
    "partitions need the local backend or the docker backend on one engine"
)


def _node_links(plan: AddressPlan) -> list[LinkSpec]:
    links = plan.node_links
    if not links:
        raise FaultError(NO_NODE_LINKS)
    return links


def links_between_nodes(plan: AddressPlan, a: set[str], b: set[str]) -> list[LinkSpec]:
    """Node links from a node in `a` to one in `b`, and from `b` to `a`."""
    return [
        s
        for s in _node_links(plan)
        if (s.source_node in a and s.dest_node in b) or (s.source_node in b and s.dest_node in a)
    ]


def cut_pairs(plan: AddressPlan, pairs: set[frozenset[str]]) -> list[LinkSpec]:
    """Node links between the nodes of each unordered pair, both ways."""
    return [s for s in _node_links(plan) if frozenset((s.source_node, s.dest_node)) in pairs]


def _mode(params: dict[str, Any]) -> str:
    mode = params.get("mode", "blackhole")
    if mode not in ("blackhole", "refuse"):
        raise FaultError(f"mode must be blackhole or refuse, got {mode!r}")
    return mode


def _cut(
    ctx: FaultContext, fid: str, specs: list[LinkSpec], targets: dict[str, Any], mode: str
) -> Applied:
    names = sorted({s.name for s in specs})
    ctx.overlay.cut(fid, names, direction="both", mode=mode)
    targets["links"] = names
    return Applied(targets=targets, heal=lambda: ctx.overlay.uncut(fid))


def resolve_zone(ctx: FaultContext, name: Any, rng: random.Random) -> str:
    zones = [z for z in ctx.topology.zone_names if ctx.topology.nodes_in_zone(z)]
    if name == "random":
        if not zones:
            raise FaultError("no zone has nodes")
        return rng.choice(zones)
    if name not in ctx.topology.zone_names:
        raise FaultError(f"unknown zone {name!r}; zones: {', '.join(ctx.topology.zone_names)}")
    return str(name)


def cut_zone(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """A data centre lost, its city alive: every link into and out of the zone's
    nodes (node links to and from nodes outside the zone, every region's client
    links into it); links inside the zone stay up."""
    zone = resolve_zone(ctx, params.get("zone"), ctx.rng_for(fid))
    inside = {n.name for n in ctx.topology.nodes_in_zone(zone)}
    _node_links(ctx.plan)
    # Client links have no source node: every client link into the zone is cut.
    specs = [
        s for s in ctx.plan.links.values() if (s.dest_node in inside) != (s.source_node in inside)
    ]
    region = next(r.name for r in ctx.topology.regions if zone in {z.name for z in r.zones})
    targets = {"zones": [zone], "regions": [region], "nodes": sorted(inside)}
    return _cut(ctx, fid, specs, targets, _mode(params))


def _node_groups(ctx: FaultContext, groups: list[Any], rng: random.Random) -> list[list[str]]:
    all_nodes = ctx.node_names
    out: list[list[str]] = []
    seen: dict[str, int] = {}
    for gi, group in enumerate(groups):
        members: list[str] = []
        for sel in group if isinstance(group, list) else [group]:
            for n in select_nodes(ctx, sel, rng):
                if n in seen and seen[n] != gi:
                    raise FaultError(
                        f"node {n} is in groups {seen[n]} and {gi}; groups must not overlap"
                    )
                if n not in members:
                    seen[n] = gi
                    members.append(n)
        out.append(members)
    rest = [n for n in all_nodes if n not in seen]
    if rest:
        out.append(rest)  # nodes not named form one more group
    if len([g for g in out if g]) < 2:
        raise FaultError("a partition needs at least two non-empty groups of nodes")
    return out


def _partition(
    ctx: FaultContext, fid: str, groups: list[list[str]], mode: str, **extra: Any
) -> Applied:
    pairs = {
        frozenset((a, b))
        for i, ga in enumerate(groups)
        for gb in groups[i + 1 :]
        for a in ga
        for b in gb
    }
    targets = {"groups": groups, "nodes": sorted({n for g in groups for n in g}), **extra}
    return _cut(ctx, fid, cut_pairs(ctx.plan, pairs), targets, mode)


def partition_nodes(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Groups of nodes (node selectors: names, {region}, {zone}, {role}) cannot reach
    each other; nodes not named form one more group. Clients reach every node."""
    groups = _node_groups(ctx, params.get("groups") or [], ctx.rng_for(fid))
    return _partition(ctx, fid, groups, _mode(params))


def random_halves(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """The nodes shuffled by the fault's seeded random source and cut in two halves
    (the smaller one has n // 2 nodes)."""
    nodes = list(ctx.node_names)
    if len(nodes) < 2:
        raise FaultError("random-halves needs at least two nodes")
    ctx.rng_for(fid).shuffle(nodes)
    k = len(nodes) // 2
    return _partition(ctx, fid, [sorted(nodes[:k]), sorted(nodes[k:])], _mode(params))


def majorities_ring_pairs(nodes: list[str]) -> set[frozenset[str]]:
    """The node pairs to cut so that, on the ring `nodes` (in that order), every node
    sees itself and its k nearest neighbours on each side, 2k+1 >= a majority, and
    no two nodes see the same set (each node's view is centred on itself)."""
    n = len(nodes)
    majority = n // 2 + 1
    k = majority // 2  # 2k+1 >= majority
    if 2 * k + 1 >= n:
        raise FaultError(
            f"majorities-ring needs at least 4 nodes (with {n}, every majority is everyone)"
        )
    pairs: set[frozenset[str]] = set()
    for i in range(n):
        for j in range(i + 1, n):
            d = min(j - i, n - (j - i))
            if d > k:
                pairs.add(frozenset((nodes[i], nodes[j])))
    return pairs


def majorities_ring(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """Jepsen's majorities ring: the nodes in a ring shuffled from the seed, each
    one linked only to its nearest neighbours on the ring — every node sees a
    majority, but no two nodes see the same majority."""
    nodes = list(ctx.node_names)
    ctx.rng_for(fid).shuffle(nodes)
    pairs = majorities_ring_pairs(nodes)
    views = {
        n: sorted(m for m in ctx.node_names if m == n or frozenset((n, m)) not in pairs)
        for n in nodes
    }
    targets = {"ring": nodes, "views": views, "nodes": sorted(nodes)}
    return _cut(ctx, fid, cut_pairs(ctx.plan, pairs), targets, _mode(params))


def one_way_nodes(
    ctx: FaultContext, src_sel: Any, dst_sel: Any, fid: str
) -> tuple[list[str], list[str], list[LinkSpec], list[LinkSpec]]:
    """Node-level one-way: (from nodes, to nodes, links whose upstream carries
    from->to, links whose downstream carries from->to)."""
    rng = ctx.rng_for(fid)
    src = select_nodes(ctx, src_sel, rng)
    dst = select_nodes(ctx, dst_sel, rng)
    both = set(src) & set(dst)
    if both:
        raise FaultError(f"one-way: nodes {sorted(both)} are on both sides")
    links = _node_links(ctx.plan)
    up = [s for s in links if s.source_node in src and s.dest_node in dst]
    down = [s for s in links if s.source_node in dst and s.dest_node in src]
    return src, dst, up, down


def _four_nodes(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if 0 < len(scope.nodes) < 4:
        return [
            (
                "fault",
                f"majorities-ring needs at least 4 nodes (the topology has {len(scope.nodes)}: every majority is everyone)",
            )
        ]
    return []


def _two_node_groups(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if "groups" not in params:
        return []
    named = {s for g in params["groups"] for s in g if isinstance(s, str)}
    if len(params["groups"]) == 1 and named >= set(scope.nodes):
        msg = "a partition needs at least two groups (nodes not named form one more group)"
        return [("groups", msg)]
    return []


FAULTS = (
    FaultDef(
        "cut-zone",
        "network",
        "A data centre lost, its city alive: every link into and out of the zone's nodes.",
        (Param("zone", "zone-or-random", required=True, doc='zone name or "random"'), MODE),
        effect=CUTS_LINKS,
        apply=cut_zone,
    ),
    FaultDef(
        "partition-nodes",
        "network",
        "Groups of nodes (node selectors) cannot reach each other; nodes not named form one more group.",
        (
            Param(
                "groups",
                "node-groups",
                required=True,
                doc="list of lists of node selectors, e.g. [[beijing-1, {zone: bj-dc2}], [{region: xian}]]",
            ),
            MODE,
        ),
        rules=(_two_node_groups,),
        effect=CUTS_LINKS,
        apply=partition_nodes,
    ),
    FaultDef(
        "majorities-ring",
        "network",
        "Every node sees a majority of the nodes, no two nodes see the same majority (ring from the seed).",
        (MODE,),
        rules=(_four_nodes,),
        effect=CUTS_LINKS,
        apply=majorities_ring,
    ),
    FaultDef(
        "random-halves",
        "network",
        "The nodes shuffled from the seed and cut into two halves.",
        (MODE,),
        effect=CUTS_LINKS,
        apply=random_halves,
    ),
)
