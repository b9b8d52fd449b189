"""The `topology:` section: regions, zones, nodes, load users and latency overrides."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.validate.context import (
    REGION_FIELDS,
    REGION_RE,
    TOPOLOGY_FIELDS,
    Context,
    show,
)
from chaoskit.topology import geo
from chaoskit.topology.model import Latency, Topology
from chaoskit.topology.plan import RegionDef, build_topology, node_names


def _split_pair(key: str, regions: list[str]) -> tuple[str, str] | None:
    """ "beijing-xian" / "us-east-eu-west" / "a/b" / "a <-> b" -> (a, b) using known region names."""
    for sep in ("<->", "/", ",", " "):
        if sep in key:
            a, _, b = key.partition(sep)
            return (a.strip(), b.strip())
    for i, ch in enumerate(key):
        if ch == "-" and key[:i] in regions and key[i + 1 :] in regions:
            return (key[:i], key[i + 1 :])
    return None


def topology_section(v: Context, raw: Any) -> Topology | None:
    path: PathT = ("topology",)
    if raw is None:
        v.err(
            path,
            "missing: an experiment needs topology.regions, e.g. {regions: {beijing: {location: beijing, zones: {bj-dc1: 3}}}}",
        )
        return None
    t = v.mapping(path, raw, TOPOLOGY_FIELDS, "topology")
    if t is None:
        return None
    regions_raw = t.get("regions")
    if not isinstance(regions_raw, dict) or not regions_raw:
        v.err(
            (*path, "regions"),
            "topology.regions must be a non-empty mapping: region name -> {location, zones}",
        )
        return None
    defs: dict[str, RegionDef] = {}
    ok = True
    zone_owner: dict[str, str] = {}
    for name, r in regions_raw.items():
        rp: PathT = (*path, "regions", name)
        if not REGION_RE.match(name):
            v.err(
                rp,
                f"region name {name!r} must be lowercase letters, digits and '-' (it becomes part of node and DNS names)",
            )
            ok = False
        elif name in ("all", "random"):
            v.err(
                rp,
                f"{name!r} cannot be a region name: it is a keyword where regions are named (region: {name})",
            )
            ok = False
        if isinstance(r, int) and not isinstance(r, bool):
            r = {"nodes": r}
        rm = v.mapping(rp, r, REGION_FIELDS, f"region {name!r}")
        if rm is None:
            ok = False
            continue
        location = rm.get("location", name)
        try:
            if not isinstance(location, str):
                raise geo.UnknownLocationError(str(location), [])
            geo.resolve(location)
        except geo.UnknownLocationError as e:
            where = (*rp, "location") if "location" in rm else rp
            msg = (
                str(e)
                if "location" in rm
                else f"{e} (no `location:` given, so the region name is used)"
            )
            v.err(where, msg)
            ok = False
        zones: dict[str, int] = {}
        if "zones" in rm and "nodes" in rm:
            v.err((*rp, "nodes"), "give either zones: {zone: count} or nodes: N, not both")
            ok = False
        elif "nodes" in rm:
            n = v.number((*rp, "nodes"), rm["nodes"], lo=0, integer=True)
            if n is None:
                ok = False
            else:
                zones = {f"{name}-dc1": int(n)}
        elif "zones" in rm:
            zr = rm["zones"]
            if not isinstance(zr, dict):
                v.err(
                    (*rp, "zones"),
                    f"zones must be a mapping zone name -> node count, e.g. {{{name}-dc1: 2}}; got {show(zr)}",
                )
                ok = False
            else:
                for zname, count in zr.items():
                    zp = (*rp, "zones", zname)
                    n = v.number(zp, count, lo=0, integer=True)
                    if n is None:
                        ok = False
                        continue
                    if zname in zone_owner:
                        v.err(
                            zp,
                            f"zone {zname!r} is already a zone of region {zone_owner[zname]!r}; zone names are unique",
                        )
                        ok = False
                        continue
                    zone_owner[zname] = name
                    zones[str(zname)] = int(n)
        defs[name] = RegionDef(
            location=location if isinstance(location, str) else name, zones=zones
        )
    v.regions = list(defs)
    v.zones = list(zone_owner)
    # Known even when something above failed, so later sections can still be checked.
    v.nodes = [n for r, d in defs.items() for n, _ in node_names(r, d.zones)]
    if ok and sum(sum(d.zones.values()) for d in defs.values()) == 0:
        v.err(
            (*path, "regions"),
            "the topology has no nodes; give at least one region zones with nodes",
        )
        ok = False

    clients: dict[str, int] = {}
    craw = t.get("clients")
    if isinstance(craw, int) and not isinstance(craw, bool):
        n = v.number((*path, "clients"), craw, lo=0, integer=True)
        clients = {r: int(n) for r in defs} if n is not None else {}
    elif craw is not None:
        if not isinstance(craw, dict):
            v.err(
                (*path, "clients"),
                f"clients must be a number (per region) or a mapping region -> number of load users; got {show(craw)}",
            )
        else:
            for r, n in craw.items():
                if v.region((*path, "clients", r), r) is None:
                    ok = False
                    continue
                c = v.number((*path, "clients", r), n, lo=0, integer=True)
                if c is not None:
                    clients[r] = int(c)

    overrides: dict[tuple[str, str], Latency] = {}
    lraw = t.get("latency")
    if lraw is not None and not isinstance(lraw, dict):
        v.err(
            (*path, "latency"),
            'latency must be a mapping "regionA-regionB" -> {rtt: 22ms, jitter: 2ms}',
        )
    for key, val in (lraw or {}).items() if isinstance(lraw, dict) else ():
        lp = (*path, "latency", key)
        pair = _split_pair(str(key), v.regions + v.zones)
        zone_pair = pair is not None and pair[0] in v.zones and pair[1] in v.zones
        if zone_pair and zone_owner[pair[0]] != zone_owner[pair[1]]:
            v.err(
                lp,
                f"zones {pair[0]!r} and {pair[1]!r} are in different regions; give the latency of their regions",
            )
            continue
        if (
            pair is None
            or pair[0] == pair[1]
            or not (zone_pair or (pair[0] in v.regions and pair[1] in v.regions))
        ):
            v.err(
                lp,
                f'{key!r} does not name two different regions, nor two zones of one region; write "A-B" (or "A/B") with A, B among {", ".join(v.regions)} (or among the zones {", ".join(v.zones)})',
            )
            continue
        if isinstance(val, str | int | float) and not isinstance(val, bool):
            val = {"rtt": val}
        lm = v.mapping(lp, val, ("rtt", "jitter"), f"latency {key!r}")
        if lm is None:
            continue
        if "rtt" not in lm:
            v.err(lp, "missing rtt (e.g. rtt: 22ms)")
            continue
        rtt = v.duration((*lp, "rtt"), lm["rtt"])
        jitter = v.duration((*lp, "jitter"), lm["jitter"]) if "jitter" in lm else None
        if rtt is None or ("jitter" in lm and jitter is None):
            continue
        rtt_ms = rtt * 1000
        jitter_ms = jitter * 1000 if jitter is not None else geo.default_jitter_ms(rtt_ms)
        a, b = pair
        overrides[(a, b) if a < b else (b, a)] = Latency(
            rtt_ms=round(rtt_ms, 3), jitter_ms=round(jitter_ms, 3)
        )
    if not ok:
        return None
    try:
        topo = build_topology(defs, clients=clients, latency=overrides)
    except (ValueError, geo.UnknownLocationError) as e:  # defensive: checked above
        v.err(path, str(e))
        return None
    v.nodes = [n.name for n in topo.nodes]
    v.clients = dict(topo.clients)
    if sum(topo.clients.values()) == 0:
        v.err((*path, "clients"), "no region has load users; set clients per region (default 2)")
    return topo


# ---------------------------------------------------------------- system, load, links
