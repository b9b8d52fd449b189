"""Regions, zones, nodes, clients, the geo latency model and the address plan."""

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

__all__ = [
    "AddressPlan",
    "Endpoint",
    "Latency",
    "LinkSpec",
    "Node",
    "Region",
    "Topology",
    "Zone",
    "link_name",
]
