"""The topology as plain data for the report picture (and check.json's `topology`).

Regions with zones and nodes, and one entry per region pair with its RTT and the
faults that cut links between the two (read from events.jsonl `targets.links`;
link names are `<source region or node>-><node>:<port>`, see topology.model.link_name).
Links cut inside a region (zone and node-group faults) mark the nodes on both ends.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaoskit.faults.base import ACTS_ON_NODES, CUTS_LINKS
from chaoskit.faults.catalogue import effect_of
from chaoskit.report.data import RunData


def _parse_link(name: str) -> tuple[str, str] | None:
    """`beijing->xian-1:http` -> ("beijing", "xian-1")."""
    if "->" not in name:
        return None
    src, rest = name.split("->", 1)
    return src, rest.rsplit(":", 1)[0]


def topology_dict(topology: Any, run: RunData | None, link_state: dict | None = None) -> dict:
    regions: list[dict] = []
    node_region: dict[str, str] = {}
    pairs: dict[tuple[str, str], dict] = {}
    clients: dict[str, int] = {}
    if topology is not None:
        for r in topology.regions:
            zones = []
            for z in r.zones:
                names = [n.name for n in topology.nodes if n.zone == z.name and n.region == r.name]
                zones.append({"name": z.name, "nodes": names})
                for n in names:
                    node_region[n] = r.name
            regions.append({"name": r.name, "location": r.location, "zones": zones})
        clients = dict(getattr(topology, "clients", {}) or {})
        names = [r.name for r in topology.regions]
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                try:
                    lat = topology.rtt(a, b)
                    rtt, jit = lat.rtt_ms, lat.jitter_ms
                except KeyError:
                    rtt = jit = None
                key = (a, b) if a < b else (b, a)
                pairs[key] = {
                    "a": key[0],
                    "b": key[1],
                    "rtt_ms": rtt,
                    "jitter_ms": jit,
                    "cut_by": [],
                    "cut_now": False,
                }
    elif run is not None:
        # No topology object (re-render of a foreign run): regions and nodes from the history.
        by_region: dict[str, list[str]] = {}
        for o in run.ops:
            if o.node and o.node not in by_region.setdefault(o.region, []):
                by_region[o.region].append(o.node)
        for r in run.regions:
            nodes = sorted(by_region.get(r, []))
            regions.append({"name": r, "location": r, "zones": [{"name": r, "nodes": nodes}]})
            for n in nodes:
                node_region[n] = r
        for i, a in enumerate(run.regions):
            for b in run.regions[i + 1 :]:
                key = (a, b) if a < b else (b, a)
                pairs[key] = {
                    "a": key[0],
                    "b": key[1],
                    "rtt_ms": None,
                    "jitter_ms": None,
                    "cut_by": [],
                    "cut_now": False,
                }

    def pair_of(link: str) -> tuple[str, str] | None:
        p = _parse_link(link)
        if p is None or p[1] not in node_region:
            return None
        a, b = node_region.get(p[0], p[0]), node_region[p[1]]  # source: a region or a node
        return None if a == b else ((a, b) if a < b else (b, a))

    per_region = Counter(node_region.values())
    if run is not None:
        for f in run.faults:
            touched = set()
            node_pairs: dict[tuple[str, str], set[frozenset[str]]] = {}
            for link in (f.targets or {}).get("links", []) or []:
                k = pair_of(str(link))
                if k:
                    touched.add(k)
                    src, dst = _parse_link(str(link)) or ("", "")
                    if src in node_region:  # a node's link to a node of another region
                        node_pairs.setdefault(k, set()).add(frozenset((src, dst)))
            if not touched and f.kind == "cut-region" and f.params.get("region"):
                touched = {k for k in pairs if f.params["region"] in k}
            for k in touched:
                if k in pairs and effect_of(f.kind) == CUTS_LINKS:
                    # a zone or node-group fault may cut only some nodes of the two regions
                    cut, total = len(node_pairs.get(k, ())), per_region[k[0]] * per_region[k[1]]
                    part = f" ({cut} of {total} node pairs)" if 0 < cut < total else ""
                    pairs[k]["cut_by"].append(f.id + part)
    # Nodes a fault acted on (kill, stop, pause, clock-skew: ACTS_ON_NODES).
    node_faults: dict[str, list[str]] = {}
    if run is not None:
        for f in run.faults:
            if effect_of(f.kind) == ACTS_ON_NODES:
                for node in (f.targets or {}).get("nodes", []) or []:
                    node_faults.setdefault(str(node), []).append(f"{f.id} {f.kind}")
            elif effect_of(f.kind) == CUTS_LINKS:
                # Node links cut by a zone or node-group fault: the nodes on either end.
                for link in (f.targets or {}).get("links", []) or []:
                    p = _parse_link(str(link))
                    if p and p[0] in node_region and node_region[p[0]] == node_region.get(p[1]):
                        for node in p:
                            tags = node_faults.setdefault(node, [])
                            if f"{f.id} {f.kind}" not in tags:
                                tags.append(f"{f.id} {f.kind}")
    for name, st in (link_state or {}).items():
        if not isinstance(st, dict):
            continue  # e.g. {"error": "..."} when the link API was unreachable at the end
        k = pair_of(name)
        if k in pairs and (st.get("cut") or st.get("enabled") is False):
            pairs[k]["cut_now"] = True
    return {
        "regions": regions,
        "clients": clients,
        "pairs": list(pairs.values()),
        "node_faults": node_faults,
    }
