"""The docker backend's address plan: subnets, IPs and ports (pure, no side effects).

Addressing (docs/docker.md): one bridge network per region with a static /24; on
each, the gateway is .1, the links container .2 and the region's nodes .10 up.
Every node gets ports unique across the cluster, so the links container can listen,
on region R's network, on the port of every node outside R under that node's DNS
alias. Inside the containers everyone uses node names (`inside`); the host uses
IPs (`outside`): a node's own IP for the region's local nodes, the links
container's IP on R's network for remote ones (the host can reach bridge IPs).

With node links (`address_plan(..., node_links=True)`), every node also has a
*source IP* on its region's network, owned by the links container: the node's
/etc/hosts maps every peer's name to it, and the links container listens there on
each peer's port, one link per (node, peer, port), so any two nodes (same zone,
same region or not) can be separated as on the local backend. The host then
reaches even its own region's nodes through the region's client links.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from chaoskit.topology.model import AddressPlan, Endpoint, LinkSpec, Topology, link_name

# 10.213.0.0/16 sits outside Docker's default address pools (172.17-31.x, 192.168.x),
# so region networks rarely clash with a user's own docker networks.
POOL = ipaddress.ip_network("10.213.0.0/16")
PORT_BASE = 20000  # first port name: 20000+i, second: 21000+i, ... (i = node index)
PORT_STRIDE = 1000
LINKS_HOST_OFFSET = 2
NODE_HOST_OFFSET = 10
LINKS_API_PORT = 8474


@dataclass(frozen=True)
class RegionNet:
    region: str
    subnet: str  # e.g. "10.213.7.0/24"
    gateway: str
    links_ip: str


@dataclass(frozen=True)
class DockerLayout:
    """What the backend needs beyond the AddressPlan: networks and per-node IPs."""

    nets: dict[str, RegionNet]  # region -> network
    node_ip: dict[str, str]  # node -> IP on its region's network
    ports: dict[str, dict[str, int]]  # node -> port name -> number
    # node -> the links container's IP on the node's network where its node links
    # listen (None when the region has too many nodes for a second IP each)
    source_ip: dict[str, str | None] = field(default_factory=dict)


def node_port(index: int, port_index: int) -> int:
    if index >= PORT_STRIDE:
        raise ValueError(f"the docker backend supports at most {PORT_STRIDE} nodes")
    return PORT_BASE + PORT_STRIDE * port_index + index


def pick_subnets(regions: list[str], used: Iterable[str], seed: str) -> dict[str, str]:
    """One free /24 of POOL per region, avoiding `used` (subnets of existing networks).

    The search starts at an offset derived from `seed` (the run id), so two runs
    planned at the same moment are unlikely to pick the same subnets.
    """
    taken = [ipaddress.ip_network(u, strict=False) for u in used]
    candidates = list(POOL.subnets(new_prefix=24))
    start = zlib.crc32(seed.encode()) % len(candidates)
    out: dict[str, str] = {}
    i = 0
    for region in regions:
        while True:
            if i >= len(candidates):
                raise RuntimeError(f"no free /24 left in {POOL} for region networks")
            net = candidates[(start + i) % len(candidates)]
            i += 1
            if not any(net.overlaps(t) for t in taken):
                out[region] = str(net)
                break
    return out


def layout(topology: Topology, ports: tuple[str, ...], subnets: dict[str, str]) -> DockerLayout:
    nets: dict[str, RegionNet] = {}
    node_ip: dict[str, str] = {}
    source_ip: dict[str, str | None] = {}
    for region in topology.region_names:
        net = ipaddress.ip_network(subnets[region])
        hosts = net.network_address
        nets[region] = RegionNet(
            region=region,
            subnet=str(net),
            gateway=str(hosts + 1),
            links_ip=str(hosts + LINKS_HOST_OFFSET),
        )
        members = topology.nodes_in(region)
        for k, node in enumerate(members):
            if NODE_HOST_OFFSET + k >= 255:
                raise ValueError(f"region {region!r} has more than 244 nodes")
            node_ip[node.name] = str(hosts + NODE_HOST_OFFSET + k)
            # Source IPs follow the node IPs: .10+n+k for the k-th of n nodes.
            src = NODE_HOST_OFFSET + len(members) + k
            source_ip[node.name] = str(hosts + src) if src < 255 else None
    port_map = {
        n.name: {p: node_port(n.index, j) for j, p in enumerate(ports)} for n in topology.nodes
    }
    return DockerLayout(nets=nets, node_ip=node_ip, ports=port_map, source_ip=source_ip)


def address_plan(
    topology: Topology, ports: tuple[str, ...], lay: DockerLayout, node_links: bool = False
) -> AddressPlan:
    """Region links (and, with `node_links`, node links and own-region client links)."""
    node_bind = {
        n.name: {p: Endpoint(lay.node_ip[n.name], lay.ports[n.name][p]) for p in ports}
        for n in topology.nodes
    }
    links: dict[tuple[str, str, str], LinkSpec] = {}
    for src in topology.region_names:
        links_ip = lay.nets[src].links_ip
        for n in topology.nodes:
            if n.region == src and not node_links:
                continue
            for p in ports:
                links[(src, n.name, p)] = LinkSpec(
                    name=link_name(src, n.name, p),
                    source_region=src,
                    dest_node=n.name,
                    dest_region=n.region,
                    port=p,
                    listen=Endpoint(links_ip, lay.ports[n.name][p]),
                    # The links container sits on the destination's network too; it
                    # must use the IP: the node's name is its own alias elsewhere.
                    upstream=Endpoint(lay.node_ip[n.name], lay.ports[n.name][p]),
                    latency=topology.rtt(src, n.region),
                    dest_zone=n.zone,
                )
    if node_links:
        links |= _node_links(topology, ports, lay)
    # Inside containers, a node's name is the one address everywhere (DNS does the
    # routing: local names resolve to the node, remote ones to the region's link).
    inside = {
        me.name: {
            peer.name: {p: Endpoint(peer.name, lay.ports[peer.name][p]) for p in ports}
            for peer in topology.nodes
        }
        for me in topology.nodes
    }
    outside: dict[str, dict[str, dict[str, Endpoint]]] = {}
    for region in topology.region_names:
        links_ip = lay.nets[region].links_ip
        outside[region] = {
            n.name: {
                p: Endpoint(
                    lay.node_ip[n.name] if n.region == region and not node_links else links_ip,
                    lay.ports[n.name][p],
                )
                for p in ports
            }
            for n in topology.nodes
        }
    return AddressPlan(
        ports=tuple(ports), node_bind=node_bind, links=links, inside=inside, outside=outside
    )


def _node_links(
    topology: Topology, ports: tuple[str, ...], lay: DockerLayout
) -> dict[tuple[str, str, str], LinkSpec]:
    """One link per (node, peer, port), listening on the node's source IP."""
    links: dict[tuple[str, str, str], LinkSpec] = {}
    for me in topology.nodes:
        source_ip = lay.source_ip.get(me.name)
        if source_ip is None:
            raise ValueError(
                f"region {me.region!r} has too many nodes for node links on the docker "
                f"backend (at most {(255 - NODE_HOST_OFFSET) // 2} per region)"
            )
        for peer in topology.nodes:
            if peer.name == me.name:
                continue
            for p in ports:
                links[(me.name, peer.name, p)] = LinkSpec(
                    name=link_name(me.name, peer.name, p),
                    source_region=me.region,
                    dest_node=peer.name,
                    dest_region=peer.region,
                    port=p,
                    listen=Endpoint(source_ip, lay.ports[peer.name][p]),
                    upstream=Endpoint(lay.node_ip[peer.name], lay.ports[peer.name][p]),
                    latency=topology.node_rtt(me.name, peer.name),
                    source_node=me.name,
                    source_zone=me.zone,
                    dest_zone=peer.zone,
                )
    return links


def node_hosts(topology: Topology, lay: DockerLayout, node: str) -> dict[str, str]:
    """A node's /etc/hosts entries with node links: every peer's name -> its source IP."""
    ip = lay.source_ip[node]
    assert ip is not None
    return {peer.name: ip for peer in topology.nodes if peer.name != node}
