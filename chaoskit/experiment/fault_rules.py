"""Validation of the zone and node-group faults (their catalogue entries are in
chaoskit/faults/domains.py): `param()` validates the parameter types they add;
`check()` applies the rules that look past one parameter (the backend, the
system, the topology) and reports each problem at its line.
"""

from __future__ import annotations

from typing import Any

from chaoskit.faults.base import Param

NODE_LINK_FAULTS = ("cut-zone", "partition-nodes", "majorities-ring", "random-halves")
NO_NODE_LINKS = (
    "the docker backend puts a region's nodes on one network and routes them directly, "
    "so it has no link between two nodes of one region to cut; use backend: local"
)

PARAM_TYPES = (
    "zone-or-random",  # a zone name of the topology or "random"
    "node-groups",  # list of lists of node selectors
    "region-or-selector",  # a region name, or a node selector mapping
)


def _show(v: Any) -> str:
    return repr(v) if not isinstance(v, str) else f"'{v}'"


def param(v: Any, path: tuple, p: Param, value: Any) -> Any:
    """Validate a value of one of PARAM_TYPES; None (after reporting) when wrong."""
    from chaoskit.experiment.validate.context import suggest
    from chaoskit.experiment.validate.selectors import node_selector

    if p.type == "zone-or-random":
        if value == "random" or (isinstance(value, str) and value in v.zones):
            return value
        hint = suggest(value, v.zones) if isinstance(value, str) else ""
        v.err(path, f"unknown zone {_show(value)}; {hint}zones: {', '.join(v.zones)}, or random")
        return None
    if p.type == "region-or-selector":
        if isinstance(value, dict):
            return node_selector(v, path, value)
        return v.region(path, value)
    if p.type == "node-groups":
        if (
            not isinstance(value, list)
            or len(value) < 1
            or not all(isinstance(g, list) and g for g in value)
        ):
            v.err(
                path,
                "expected a list of non-empty lists of node selectors, e.g. "
                f"[[beijing-1, beijing-2], [{{zone: bj-dc2}}]]; got {_show(value)}",
            )
            return None
        groups = [
            [node_selector(v, (*path, gi, si), s) for si, s in enumerate(g)]
            for gi, g in enumerate(value)
        ]
        if any(s is None for g in groups for s in g):
            return None
        return groups
    raise AssertionError(f"fault_rules: unknown parameter type {p.type!r}")


def check(v: Any, path: tuple, name: str, params: dict[str, Any]) -> bool:
    """Rules across fields for the faults above; False when one was reported."""
    backend = getattr(v, "backend", None)
    node_level_one_way = name == "one-way" and any(
        isinstance(params.get(k), dict) for k in ("from", "to")
    )
    if backend == "docker" and (name in NODE_LINK_FAULTS or node_level_one_way):
        v.err(
            (*path, "fault"),
            f"fault {name} needs links between nodes of one region: {NO_NODE_LINKS}",
        )
        return False
    if name == "majorities-ring" and 0 < len(v.nodes) < 4:
        v.err(
            (*path, "fault"),
            f"majorities-ring needs at least 4 nodes (the topology has {len(v.nodes)}: every majority is everyone)",
        )
        return False
    if name == "partition-nodes" and "groups" in params:
        named = {s for g in params["groups"] for s in g if isinstance(s, str)}
        if len(params["groups"]) == 1 and named >= set(v.nodes):
            v.err(
                (*path, "groups"),
                "a partition needs at least two groups (nodes not named form one more group)",
            )
            return False
    return True
