"""Building a Topology from region definitions, and the local (loopback) address plan.

`build_topology` names nodes `<region>-<n>`, counting across the region's zones in
order (beijing with zones {bj-dc1: 2, bj-dc2: 2} -> beijing-1, beijing-2 in bj-dc1,
beijing-3, beijing-4 in bj-dc2), and fills the latency of every region pair from
the geo model unless an override is given.

`local_plan` gives every node port and every link its own loopback port. Ports
come from a range BELOW the kernel's ephemeral range, so they never collide with
the local end of an outgoing connection or with anyone's bind-to-port-0; each
candidate is test-bound (and released at once: a 500-link plan must not hold
500 file descriptors), and one plan never hands out a port twice. Other people
testing on the same machine pick from the same range at random, so two plans
collide only if both draw the same port and neither has bound it yet.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from chaoskit.topology import geo
from chaoskit.topology.model import (
    AddressPlan,
    Endpoint,
    Latency,
    LinkSpec,
    Node,
    Region,
    Topology,
    Zone,
    link_name,
)

DEFAULT_CLIENTS_PER_REGION = 2


@dataclass
class RegionDef:
    """A region as a user describes it: a geo location and zones with node counts.

    Zones are kept in the given order (node numbering follows it). A region with
    no zones holds only clients (useful to measure from a place without nodes).
    """

    location: str
    zones: dict[str, int] = field(default_factory=dict)


def node_names(region: str, zones: Mapping[str, int]) -> list[tuple[str, str]]:
    """(node name, zone) pairs of a region, numbered across its zones in order."""
    out: list[tuple[str, str]] = []
    for zone, count in zones.items():
        for _ in range(count):
            out.append((f"{region}-{len(out) + 1}", zone))
    return out


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def build_topology(
    regions: Mapping[str, RegionDef | Mapping | int],
    clients: Mapping[str, int] | None = None,
    latency: Mapping[tuple[str, str], Latency] | None = None,
    clients_per_region: int = DEFAULT_CLIENTS_PER_REGION,
) -> Topology:
    """A Topology from region definitions.

    `regions`: name -> RegionDef, or a mapping {"location": ..., "zones": {...}},
    or a plain node count (location = region name, one zone "<region>-dc1").
    `clients`: load users per region (missing regions get `clients_per_region`).
    `latency`: RTT overrides per region pair or per pair of zones of one region
    (either order); every other region pair comes from `geo.rtt` of the two
    regions' locations, every other zone pair is `DEFAULT_ZONE_RTT`.
    Raises ValueError (unknown region in clients/latency, bad counts) and
    geo.UnknownLocationError.
    """
    defs: dict[str, RegionDef] = {}
    for name, d in regions.items():
        if isinstance(d, RegionDef):
            defs[name] = d
        elif isinstance(d, int):
            defs[name] = RegionDef(location=name, zones={f"{name}-dc1": d})
        else:
            defs[name] = RegionDef(location=d.get("location", name), zones=dict(d.get("zones", {})))

    region_objs: list[Region] = []
    nodes: list[Node] = []
    zone_owner: dict[str, str] = {}
    for name, d in defs.items():
        geo.resolve(d.location)  # fail early on an unknown location
        zones: list[Zone] = []
        for zone, count in d.zones.items():
            if count < 0:
                raise ValueError(
                    f"region {name!r}, zone {zone!r}: node count must be >= 0, got {count}"
                )
            if zone in zone_owner:
                raise ValueError(
                    f"zone {zone!r} appears in regions {zone_owner[zone]!r} and {name!r}"
                )
            zone_owner[zone] = name
            zones.append(Zone(name=zone, region=name, nodes=count))
        region_objs.append(Region(name=name, location=d.location, zones=tuple(zones)))
        for node, zone in node_names(name, d.zones):
            nodes.append(Node(name=node, region=name, zone=zone, index=len(nodes)))

    clients = dict(clients or {})
    for r in clients:
        if r not in defs:
            raise ValueError(f"clients: unknown region {r!r}; regions: {', '.join(defs)}")
    client_map = {r: clients.get(r, clients_per_region) for r in defs}

    overrides: dict[tuple[str, str], Latency] = {}
    zone_overrides: dict[tuple[str, str], Latency] = {}
    for (a, b), lat in (latency or {}).items():
        if a in zone_owner and b in zone_owner:
            if zone_owner[a] != zone_owner[b]:
                raise ValueError(
                    f"latency: zones {a!r} and {b!r} are in different regions; "
                    "give the latency of their regions instead"
                )
            zone_overrides[_pair(a, b)] = lat
            continue
        for r in (a, b):
            if r not in defs:
                raise ValueError(
                    f"latency: unknown region or zone {r!r}; regions: {', '.join(defs)}; "
                    f"zones: {', '.join(zone_owner)}"
                )
        overrides[_pair(a, b)] = lat

    matrix: dict[tuple[str, str], Latency] = {}
    names = list(defs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            key = _pair(a, b)
            matrix[key] = overrides.get(key) or geo.rtt(defs[a].location, defs[b].location)
    return Topology(
        regions=region_objs,
        nodes=nodes,
        clients=client_map,
        latency=matrix,
        zone_latency=zone_overrides,
    )


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@contextmanager
def port_allocator(host: str = "127.0.0.1", span: int = 12000) -> Iterator[Callable[[], int]]:
    """Yields `allocate() -> int`: a free port per call, never the same one twice,
    from the `span` ports just below the kernel's ephemeral range."""
    high = _ephemeral_low()
    low = max(1024, high - span)
    rng = random.Random()  # deliberately not seeded: seven other testers share this range
    given: set[int] = set()

    def allocate() -> int:
        for _ in range(1000):
            port = rng.randrange(low, high)
            if port in given:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            given.add(port)
            return port
        raise RuntimeError(f"no free port found in {low}-{high - 1} on {host}")

    yield allocate


def local_plan(
    topology: Topology,
    ports: tuple[str, ...],
    host: str = "127.0.0.1",
    allocate: Callable[[], int] | None = None,
) -> AddressPlan:
    """Every node port and every link on its own port of `host` (see module doc).

    Node links: one per (node, peer, port), carrying topology.node_rtt (the
    regions' RTT, the zones' inside a region, 0 inside a zone): every node reaches
    every peer through its own link, so any two nodes can be separated.
    Client links: one per (region, node, port), carrying the regions' RTT (0 for
    the region's own nodes). `inside[node]` is the node's own links (itself
    direct); `outside[region]` is the client links of `region`. `allocate` (a
    callable returning a fresh port) replaces the default allocator.
    """
    if not ports:
        raise ValueError("a system must expose at least one port")
    if allocate is None:
        with port_allocator(host) as alloc:
            return local_plan(topology, ports, host, alloc)

    node_bind = {n.name: {p: Endpoint(host, allocate()) for p in ports} for n in topology.nodes}
    links: dict[tuple[str, str, str], LinkSpec] = {}

    def add(source: str, src: Node | None, region: str, dest: Node, p: str, lat: Latency) -> None:
        links[(source, dest.name, p)] = LinkSpec(
            name=link_name(source, dest.name, p),
            source_region=region,
            dest_node=dest.name,
            dest_region=dest.region,
            port=p,
            listen=Endpoint(host, allocate()),
            upstream=node_bind[dest.name][p],
            latency=lat,
            source_node=src.name if src else None,
            source_zone=src.zone if src else None,
            dest_zone=dest.zone,
        )

    for src_region in topology.region_names:
        for n in topology.nodes:
            for p in ports:
                add(src_region, None, src_region, n, p, topology.rtt(src_region, n.region))
    for me in topology.nodes:
        for peer in topology.nodes:
            if peer.name != me.name:
                lat = topology.node_rtt(me.name, peer.name)
                for p in ports:
                    add(me.name, me, me.region, peer, p, lat)

    inside = {
        me.name: {
            peer.name: {
                p: node_bind[me.name][p]
                if peer.name == me.name
                else links[(me.name, peer.name, p)].listen
                for p in ports
            }
            for peer in topology.nodes
        }
        for me in topology.nodes
    }
    outside = {
        r: {n.name: {p: links[(r, n.name, p)].listen for p in ports} for n in topology.nodes}
        for r in topology.region_names
    }
    return AddressPlan(
        ports=tuple(ports), node_bind=node_bind, links=links, inside=inside, outside=outside
    )
