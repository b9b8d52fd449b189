"""Resolve selectors (nodes, regions, links) to concrete names at apply time.

Node selectors (`target:`): "all", "random-node", "minority", "majority", a role
the system gives (e.g. "leader"), a node name, or a mapping {region: R} |
{zone: Z} | {node: N} | {role: R} | {random: K, of: <selector>}.
Link selectors (`links:`): "all" | {between: [A, B]} | {region: R} | {names: [...]}.
Random choices use the fault's own seeded random source.
"""

from __future__ import annotations

import random
from typing import Any

from chaoskit.faults.base import FaultContext, FaultError
from chaoskit.topology.model import LinkSpec


def _roles(ctx: FaultContext) -> dict[str, list[str]]:
    try:
        return ctx.adapter.roles(ctx.system) or {}
    except Exception as e:  # a role lookup talks to the system: say so, do not crash
        raise FaultError(f"could not ask {ctx.adapter.kind} for its roles: {e}") from e


def select_nodes(ctx: FaultContext, sel: Any, rng: random.Random) -> list[str]:
    nodes = ctx.node_names
    if sel is None:
        raise FaultError("this fault needs a `target`")
    if isinstance(sel, str):
        if sel == "all":
            return list(nodes)
        if sel == "random-node":
            return [rng.choice(nodes)]
        if sel == "minority":
            k = (len(nodes) - 1) // 2
            return sorted(rng.sample(nodes, k), key=nodes.index)
        if sel == "majority":
            k = len(nodes) // 2 + 1
            return sorted(rng.sample(nodes, k), key=nodes.index)
        if sel in nodes:
            return [sel]
        roles = _roles(ctx)
        if sel in roles:
            if not roles[sel]:
                raise FaultError(f"no node currently has the role {sel!r}")
            return list(roles[sel])
        raise FaultError(
            f"target {sel!r} is neither a node ({', '.join(nodes)}), a role "
            f"({', '.join(sorted(roles)) or 'none'}), nor all/random-node/minority/majority"
        )
    if isinstance(sel, dict):
        if "region" in sel:
            region = resolve_region(ctx, sel["region"], rng)
            return [n.name for n in ctx.topology.nodes_in(region)]
        if "zone" in sel:
            found = [n.name for n in ctx.topology.nodes_in_zone(sel["zone"])]
            if not found:
                raise FaultError(f"zone {sel['zone']!r} has no nodes")
            return found
        if "node" in sel:
            return select_nodes(ctx, str(sel["node"]), rng)
        if "role" in sel:
            return select_nodes(ctx, str(sel["role"]), rng)
        if "random" in sel:
            pool = select_nodes(ctx, sel.get("of", "all"), rng)
            k = min(int(sel["random"]), len(pool))
            return sorted(rng.sample(pool, k), key=nodes.index)
    if isinstance(sel, list):
        out: list[str] = []
        for s in sel:
            for n in select_nodes(ctx, s, rng):
                if n not in out:
                    out.append(n)
        return out
    raise FaultError(f"cannot understand the node selector {sel!r}")


def resolve_region(ctx: FaultContext, name: Any, rng: random.Random) -> str:
    regions = ctx.topology.region_names
    if name == "random":
        return rng.choice(regions)
    if name not in regions:
        raise FaultError(f"unknown region {name!r}; regions: {', '.join(regions)}")
    return str(name)


def select_links(ctx: FaultContext, sel: Any) -> list[LinkSpec]:
    links = list(ctx.plan.links.values())
    # `all` and {region} mean the links across region borders (inter-region paths);
    # links inside a region are reached by name.
    crossing = [s for s in links if s.crosses_regions]
    if sel is None or sel == "all":
        return crossing
    if isinstance(sel, dict):
        if "between" in sel:
            a, b = sel["between"]
            return [s for s in links if {s.source_region, s.dest_region} == {a, b} and a != b]
        if "region" in sel:
            r = sel["region"]
            return [s for s in crossing if r in (s.source_region, s.dest_region)]
        if "names" in sel:
            by_name = {s.name: s for s in links}
            missing = [n for n in sel["names"] if n not in by_name]
            if missing:
                raise FaultError(f"unknown links {missing}; e.g. {', '.join(list(by_name)[:5])}")
            return [by_name[n] for n in sel["names"]]
    raise FaultError(f"cannot understand the link selector {sel!r}")
