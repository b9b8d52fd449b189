"""Plain data for a topology and its address plan.

These dataclasses are the narrow door between packages: the experiment package builds a
`Topology`, a backend turns it into an `AddressPlan`, the links package builds one
proxy per `LinkSpec`, systems configure nodes from `AddressPlan.peer_map`, and the
load package connects clients through `AddressPlan.client_view`.

Nothing here knows Docker, processes or protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Latency:
    """Round-trip time and jitter of a path, in milliseconds.

    A link carries half of the RTT in each direction (upstream and downstream),
    so a request/response through one link sees the full RTT.
    """

    rtt_ms: float
    jitter_ms: float = 0.0

    @property
    def one_way_ms(self) -> float:
        return self.rtt_ms / 2.0


# Two data centres of one city: about 0.5-2 ms apart (metro fibre); 1 ms by default.
DEFAULT_ZONE_RTT = Latency(1.0, 0.1)


@dataclass(frozen=True)
class Zone:
    name: str
    region: str
    nodes: int


@dataclass(frozen=True)
class Region:
    name: str
    location: str  # a geo-model location name, e.g. "beijing", "us-east"
    zones: tuple[Zone, ...]


@dataclass(frozen=True)
class Node:
    name: str  # unique across the cluster, also its DNS name in the docker backend
    region: str
    zone: str
    index: int  # position in Topology.nodes (stable, 0-based)


@dataclass
class Topology:
    regions: list[Region]
    nodes: list[Node]
    clients: dict[str, int]  # region name -> number of load users placed there
    # RTT between two regions, keyed by the sorted pair (a, b) with a < b.
    latency: dict[tuple[str, str], Latency] = field(default_factory=dict)
    # RTT between two zones (data centres) of one region, keyed like `latency`;
    # pairs not given use `zone_default` (same-city data centres).
    zone_latency: dict[tuple[str, str], Latency] = field(default_factory=dict)
    zone_default: Latency = field(default_factory=lambda: DEFAULT_ZONE_RTT)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def nodes_in(self, region: str) -> list[Node]:
        return [n for n in self.nodes if n.region == region]

    def nodes_in_zone(self, zone: str) -> list[Node]:
        return [n for n in self.nodes if n.zone == zone]

    def rtt(self, a: str, b: str) -> Latency:
        """RTT between regions a and b (zero inside a region: traffic goes direct)."""
        if a == b:
            return Latency(0.0, 0.0)
        return self.latency[(a, b) if a < b else (b, a)]

    def zone_rtt(self, a: str, b: str) -> Latency:
        """RTT between two zones of one region (zero inside a zone)."""
        if a == b:
            return Latency(0.0, 0.0)
        return self.zone_latency.get((a, b) if a < b else (b, a), self.zone_default)

    def node_rtt(self, a: str, b: str) -> Latency:
        """RTT between two nodes: their regions', or their zones' inside one region."""
        na, nb = self.node(a), self.node(b)
        if na.region != nb.region:
            return self.rtt(na.region, nb.region)
        return self.zone_rtt(na.zone, nb.zone)

    @property
    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    @property
    def zone_names(self) -> list[str]:
        return [z.name for r in self.regions for z in r.zones]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LinkSpec:
    """One Toxiproxy proxy: how region `source_region` reaches port `port` of `dest_node`.

    A *node link* (`source_node` set) carries one node's traffic to one peer: the
    local and docker backends give every node its own link to every peer, so nodes of one
    region, even of one zone, can be separated. A *client link* (`source_node`
    None) carries the load clients of `source_region`.
    """

    name: str
    source_region: str
    dest_node: str
    dest_region: str
    port: str  # the system's port name, e.g. "http" (geokv) or "client"/"peer" (etcd)
    listen: Endpoint  # where the proxy listens (as the link server binds it)
    upstream: Endpoint  # the node's real address, as the link server reaches it
    latency: Latency  # RTT of the pair; each direction carries half
    source_node: str | None = None  # set on node links
    source_zone: str | None = None  # the source node's zone (node links)
    dest_zone: str = ""

    @property
    def crosses_regions(self) -> bool:
        return self.source_region != self.dest_region


@dataclass
class AddressPlan:
    """Who reaches whom, at which address.

    A system exposes one or more named ports per node (`ports`, e.g. ("http",)
    for geokv, ("client", "peer") for etcd); every map below is keyed by node,
    then by port name.

    `node_bind`: where each node really listens (as its backend binds it).
    `links`: keyed (source, destination node, port); the source is a region for
      client links, a node for node links (see LinkSpec).
    `inside`: per node, how THAT node reaches every node, itself included
      (through its own node link to each peer; docker: by name, which the node's
      /etc/hosts sends to its own links; docker on several engines: direct inside
      its region, through its region's link otherwise). This is what a
      system adapter writes into a node's peer map.
    `outside`: per client region, how a load client on the harness's host reaches
      every node. Identical to `inside` of that region's nodes in the local
      backend; in the docker backend the host uses container IPs, not DNS names.
    """

    ports: tuple[str, ...]
    node_bind: dict[str, dict[str, Endpoint]]
    links: dict[tuple[str, str, str], LinkSpec]  # (source_region, dest_node, port) -> spec
    inside: dict[str, dict[str, dict[str, Endpoint]]]
    outside: dict[str, dict[str, dict[str, Endpoint]]]

    def peer_map(self, node: str, port: str | None = None) -> dict[str, Endpoint]:
        """How `node` reaches every node on one port (the system's first port by default)."""
        port = port or self.ports[0]
        return {peer: eps[port] for peer, eps in self.inside[node].items()}

    def client_view(self, region: str, port: str | None = None) -> dict[str, Endpoint]:
        """How a load client in `region` reaches every node on one port."""
        port = port or self.ports[0]
        return {node: eps[port] for node, eps in self.outside[region].items()}

    # The three below are about a region's border: links inside the region (node
    # links between region-mates, its clients' links to its own nodes) are left out.
    def links_into(self, region: str) -> list[LinkSpec]:
        return [s for s in self.links.values() if s.dest_region == region and s.crosses_regions]

    def links_out_of(self, region: str) -> list[LinkSpec]:
        return [s for s in self.links.values() if s.source_region == region and s.crosses_regions]

    def links_touching(self, region: str) -> list[LinkSpec]:
        return [
            s
            for s in self.links.values()
            if region in (s.source_region, s.dest_region) and s.crosses_regions
        ]

    @property
    def node_links(self) -> list[LinkSpec]:
        return [s for s in self.links.values() if s.source_node is not None]


def link_name(source: str, dest_node: str, port: str) -> str:
    """The Toxiproxy proxy name of a link (stable: faults and reports refer to it).

    `source` is a region (client link) or a node (node link)."""
    return f"{source}->{dest_node}:{port}"
