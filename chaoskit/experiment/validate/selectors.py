"""Fault targets: node selectors, link selectors and region groups."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.validate.context import (
    Context,
    show,
    suggest,
)
from chaoskit.faults import base as fs
from chaoskit.topology.model import link_name


def _roles(v: Context) -> list[str]:
    extra = list(v.adapter_cls.role_names) if v.adapter_cls is not None else []
    return [*fs.KNOWN_ROLES, *[r for r in extra if r not in fs.KNOWN_ROLES]]


def _named(v: Context, path: PathT, key: str, val: Any, names: list[str]) -> Any:
    """{key: val} when val is one of `names` (zones or nodes); else an error listing them."""
    if isinstance(val, str) and val in names:
        return {key: val}
    v.err(
        (*path, key),
        f"{key} {show(val)} does not exist; {suggest(val, names) if isinstance(val, str) else ''}{key}s: {', '.join(names)}",
    )
    return None


def node_selector(v: Context, path: PathT, value: Any) -> Any:
    keywords = [*fs.NODE_SELECTOR_KEYWORDS, *_roles(v)]
    shape = (
        f"one of {', '.join(keywords)}, a node name ({', '.join(v.nodes[:4])}{', ...' if len(v.nodes) > 4 else ''}), "
        "or {region: R} | {zone: Z} | {node: N} | {role: R} | {random: K, of: <selector>}"
    )
    if isinstance(value, str):
        if value in keywords or value in v.nodes:
            return value
        v.err(
            path,
            f"unknown target {value!r}; {suggest(value, [*keywords, *v.nodes])}valid: {shape}",
        )
        return None
    if isinstance(value, dict):
        keys = set(value)
        if "random" in keys:
            if not keys <= {"random", "of"}:
                v.err(
                    path,
                    f"{{random: K, of: <selector>}} takes only random and of; got {', '.join(sorted(keys))}",
                )
                return None
            k = v.number((*path, "random"), value["random"], lo=1, integer=True)
            inner = node_selector(v, (*path, "of"), value.get("of", "all"))
            if k is None or inner is None:
                return None
            return {"random": int(k), "of": inner}
        if len(keys) != 1 or not keys <= set(fs.NODE_SELECTOR_KEYS):
            bad = next(iter(keys - set(fs.NODE_SELECTOR_KEYS)), None)
            hint = suggest(bad, fs.NODE_SELECTOR_KEYS) if bad else ""
            v.err(
                path,
                f"a selector mapping has exactly one of region, zone, node, role, random; {hint}got {', '.join(sorted(map(str, keys))) or 'nothing'}",
            )
            return None
        (key,) = keys
        val = value[key]
        if key == "region":
            return {"region": val} if v.region((*path, "region"), val) else None
        if key in ("zone", "node"):
            return _named(v, path, key, val, v.zones if key == "zone" else v.nodes)
        if isinstance(val, str) and val:
            return {"role": val}
        v.err(
            (*path, "role"),
            f"expected a role name such as {', '.join(_roles(v))}, got {show(val)}",
        )
        return None
    v.err(path, f"expected a node selector: {shape}; got {show(value)}")
    return None


def _link_names(v: Context) -> list[str] | None:
    ports = v.adapter_cls.ports if v.adapter_cls is not None else None
    if not ports or not v.nodes:
        return None
    region_of = {n: n.rsplit("-", 1)[0] for n in v.nodes}  # nodes are named <region>-<n>
    return [
        link_name(src, n, p)
        for src in v.regions
        for n in v.nodes
        if region_of[n] != src
        for p in ports
    ]


def links_selector(v: Context, path: PathT, value: Any) -> Any:
    shape = "all, {between: [A, B]}, {region: R} or {names: [link names]}"
    if value == "all":
        return "all"
    if (
        not isinstance(value, dict)
        or len(value) != 1
        or next(iter(value)) not in fs.LINK_SELECTOR_KEYS
    ):
        extra = ""
        if isinstance(value, dict):
            bad = [k for k in value if k not in fs.LINK_SELECTOR_KEYS]
            extra = suggest(bad[0], fs.LINK_SELECTOR_KEYS) if bad else ""
        v.err(path, f"expected a link selector: {shape}; {extra}got {show(value)}")
        return None
    ((key, val),) = value.items()
    if key == "region":
        return {"region": val} if v.region((*path, "region"), val) else None
    if key == "between":
        if not isinstance(val, list) or len(val) != 2:
            v.err(
                (*path, "between"),
                f"between takes two region names, e.g. [beijing, xian]; got {show(val)}",
            )
            return None
        got = [v.region((*path, "between", i), r) for i, r in enumerate(val)]
        if None in got:
            return None
        if got[0] == got[1]:
            v.err(
                (*path, "between"),
                "between needs two different regions (links only join different regions)",
            )
            return None
        return {"between": got}
    if not isinstance(val, list) or not val or not all(isinstance(x, str) for x in val):
        v.err(
            (*path, "names"),
            f"names takes a list of link names like beijing->xian-1:http; got {show(val)}",
        )
        return None
    known = _link_names(v)
    if known is not None:
        for i, name in enumerate(val):
            if name not in known:
                v.err(
                    (*path, "names", i),
                    f"no link named {name!r}; {suggest(name, known)}links are named <source region>-><node>:<port>",
                )
    return {"names": list(val)}


def region_groups(v: Context, path: PathT, value: Any) -> list[list[str]] | None:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(g, list) and g for g in value)
    ):
        v.err(
            path,
            f"expected a list of non-empty lists of region names, e.g. [[beijing], [xian, shanghai]]; got {show(value)}",
        )
        return None
    seen: dict[str, int] = {}
    out: list[list[str]] = []
    for gi, group in enumerate(value):
        g: list[str] = []
        for ri, r in enumerate(group):
            if v.region((*path, gi, ri), r) is None:
                return None
            if r in seen:
                v.err(
                    (*path, gi, ri),
                    f"region {r!r} is already in group {seen[r]}; groups must not overlap",
                )
                return None
            seen[r] = gi
            g.append(r)
        out.append(g)
    return out


def _quoted(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def zone_or_random(v: Context, path: PathT, value: Any) -> str | None:
    if value == "random" or (isinstance(value, str) and value in v.zones):
        return value
    hint = suggest(value, v.zones) if isinstance(value, str) else ""
    v.err(path, f"unknown zone {_quoted(value)}; {hint}zones: {', '.join(v.zones)}, or random")
    return None


def region_or_selector(v: Context, path: PathT, value: Any) -> Any:
    """A region name, or a node selector mapping (node-level faults)."""
    if isinstance(value, dict):
        return node_selector(v, path, value)
    return v.region(path, value)


def node_groups(v: Context, path: PathT, value: Any) -> list[list[Any]] | None:
    """A list of non-empty lists of node selectors."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(g, list) and g for g in value)
    ):
        v.err(
            path,
            "expected a list of non-empty lists of node selectors, e.g. "
            f"[[beijing-1, beijing-2], [{{zone: bj-dc2}}]]; got {_quoted(value)}",
        )
        return None
    groups = [
        [node_selector(v, (*path, gi, si), s) for si, s in enumerate(g)]
        for gi, g in enumerate(value)
    ]
    if any(s is None for g in groups for s in g):
        return None
    return groups
