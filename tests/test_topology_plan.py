"""build_topology and the local address plan: invariants over real loopback ports."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit.topology import geo
from chaoskit.topology.model import Latency, link_name
from chaoskit.topology.plan import RegionDef, build_topology, local_plan, port_allocator


def three_regions():
    return build_topology(
        {
            "beijing": RegionDef("beijing", {"bj-dc1": 2, "bj-dc2": 2}),
            "xian": {"location": "xian", "zones": {"xa-dc1": 1}},
            "tokyo": 2,
        },
        clients={"beijing": 4},
        latency={("xian", "beijing"): Latency(22.0, 2.0)},
    )


def test_node_naming_counts_across_zones() -> None:
    t = three_regions()
    assert [(n.name, n.zone) for n in t.nodes] == [
        ("beijing-1", "bj-dc1"),
        ("beijing-2", "bj-dc1"),
        ("beijing-3", "bj-dc2"),
        ("beijing-4", "bj-dc2"),
        ("xian-1", "xa-dc1"),
        ("tokyo-1", "tokyo-dc1"),
        ("tokyo-2", "tokyo-dc1"),
    ]
    assert [n.index for n in t.nodes] == list(range(7))
    assert t.clients == {"beijing": 4, "xian": 2, "tokyo": 2}


def test_latency_from_geo_model_and_overrides() -> None:
    t = three_regions()
    assert t.rtt("xian", "beijing") == Latency(22.0, 2.0)  # override, either order
    assert t.rtt("beijing", "tokyo") == geo.rtt("beijing", "tokyo")
    assert t.rtt("tokyo", "tokyo") == Latency(0.0, 0.0)
    assert len(t.latency) == 3  # every pair once


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="clients: unknown region 'mars'"):
        build_topology({"beijing": 1}, clients={"mars": 1})
    with pytest.raises(ValueError, match="zone 'dc'"):
        build_topology({"a": RegionDef("beijing", {"dc": 1}), "b": RegionDef("xian", {"dc": 1})})
    with pytest.raises(geo.UnknownLocationError):
        build_topology({"atlantis": 1})


def test_plan_invariants() -> None:
    t = three_regions()
    ports = ("client", "peer")
    plan = local_plan(t, ports)
    nodes = {n.name: n for n in t.nodes}

    # one client link per (region, node, port), one node link per (node, peer, port)
    expected = {(r, n.name, p) for r in t.region_names for n in t.nodes for p in ports}
    expected |= {(a.name, b.name, p) for a in t.nodes for b in t.nodes if a != b for p in ports}
    assert set(plan.links) == expected
    for (src, node, port), spec in plan.links.items():
        assert spec.name == link_name(src, node, port)
        assert spec.dest_region == nodes[node].region
        assert spec.dest_zone == nodes[node].zone
        assert spec.upstream == plan.node_bind[node][port]
        if spec.source_node is None:
            assert spec.latency == t.rtt(src, nodes[node].region)
        else:
            assert spec.source_node == src and spec.source_zone == nodes[src].zone
            assert spec.latency == t.node_rtt(src, node)
    assert len({s.name for s in plan.links.values()}) == len(plan.links)

    # every address in the plan is distinct
    all_eps = [ep for eps in plan.node_bind.values() for ep in eps.values()]
    all_eps += [s.listen for s in plan.links.values()]
    assert len(set(all_eps)) == len(all_eps)

    # inside views: itself direct, every peer (region-mates too) through the node's own link
    for n in t.nodes:
        for peer in t.nodes:
            for p in ports:
                got = plan.inside[n.name][peer.name][p]
                if peer == n:
                    assert got == plan.node_bind[peer.name][p]
                else:
                    assert got == plan.links[(n.name, peer.name, p)].listen
    assert (
        plan.client_view("xian")["beijing-1"] == plan.links[("xian", "beijing-1", "client")].listen
    )
    assert set(plan.outside) == set(t.region_names)
    # views are separate objects: editing one node's view leaves others alone
    plan.inside["beijing-1"]["xian-1"]["client"] = None
    assert plan.inside["beijing-2"]["xian-1"]["client"] is not None


def test_zone_latency_default_and_override() -> None:
    t = build_topology(
        {"beijing": RegionDef("beijing", {"bj-dc1": 2, "bj-dc2": 1}), "xian": 1},
        latency={("bj-dc2", "bj-dc1"): Latency(1.6, 0.2)},
    )
    assert t.node_rtt("beijing-1", "beijing-2") == Latency(0.0, 0.0)  # one zone
    assert t.node_rtt("beijing-1", "beijing-3") == Latency(1.6, 0.2)  # overridden pair
    assert t.node_rtt("beijing-3", "xian-1") == t.rtt("beijing", "xian")
    t2 = build_topology({"beijing": RegionDef("beijing", {"a": 1, "b": 1})})
    assert 0.5 <= t2.node_rtt("beijing-1", "beijing-2").rtt_ms <= 2.0  # same-city default
    with pytest.raises(ValueError, match="different regions"):
        build_topology(
            {"beijing": RegionDef("beijing", {"a": 1}), "xian": RegionDef("xian", {"b": 1})},
            latency={("a", "b"): Latency(1.0)},
        )


def test_plan_ports_are_bindable_after_planning() -> None:
    """The default allocator releases its test sockets: every planned port can be bound."""
    t = build_topology({"beijing": 2, "xian": 1})
    plan = local_plan(t, ("http",))
    eps = [ep for eps in plan.node_bind.values() for ep in eps.values()] + [
        s.listen for s in plan.links.values()
    ]
    socks = []
    try:
        for ep in eps:
            s = socket.socket()
            socks.append(s)
            s.bind((ep.host, ep.port))
    finally:
        for s in socks:
            s.close()


def test_allocator_avoids_ephemeral_range_and_duplicates() -> None:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    with port_allocator() as alloc:
        got = [alloc() for _ in range(200)]
    assert len(set(got)) == 200
    assert all(1024 <= p < low for p in got)


def test_custom_allocator_and_host() -> None:
    counter = iter(range(40000, 41000))
    t = build_topology({"a": RegionDef("beijing", {"z1": 1}), "b": RegionDef("xian", {"z2": 1})})
    plan = local_plan(t, ("http",), host="127.0.0.2", allocate=lambda: next(counter))
    assert plan.node_bind["a-1"]["http"].port == 40000
    assert {s.listen.host for s in plan.links.values()} == {"127.0.0.2"}
    assert len(plan.links) == 2 * 2 + 2  # client links of both regions, a-1 <-> b-1


def test_clients_only_region_gets_links() -> None:
    t = build_topology({"beijing": 1, "us-east": RegionDef("us-east", {})})
    plan = local_plan(t, ("http",))
    assert ("us-east", "beijing-1", "http") in plan.links
    assert (
        plan.client_view("us-east")["beijing-1"]
        == plan.links[("us-east", "beijing-1", "http")].listen
    )


LOCS = ["beijing", "shanghai", "xian", "us-east", "eu-west", "ap-northeast", "ap-southeast"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 3), min_size=0, max_size=3), min_size=1, max_size=5),
    st.sampled_from([("http",), ("client", "peer")]),
)
def test_plan_invariants_hold_for_any_topology(zone_counts, ports) -> None:
    regions = {
        f"r{i}": RegionDef(LOCS[i % len(LOCS)], {f"r{i}-z{j}": c for j, c in enumerate(zones)})
        for i, zones in enumerate(zone_counts)
    }
    t = build_topology(regions)
    assert len({n.name for n in t.nodes}) == len(t.nodes) == sum(map(sum, zone_counts))
    ports_iter = iter(range(20000, 60000))
    plan = local_plan(t, ports, allocate=lambda: next(ports_iter))
    n = len(t.nodes)
    assert len(plan.links) == (len(t.region_names) * n + n * (n - 1)) * len(ports)
    for r in t.region_names:
        for node in t.nodes:
            for p in ports:
                ep = plan.outside[r][node.name][p]
                spec = plan.links[(r, node.name, p)]
                assert ep == spec.listen and spec.upstream == plan.node_bind[node.name][p]
                assert (spec.latency.rtt_ms > 0) == (node.region != r)
    for s in plan.node_links:
        zone_pair = {s.source_zone, s.dest_zone}
        assert (s.latency.rtt_ms > 0) == (len(zone_pair) == 2)


def test_large_plan_fifty_nodes_ten_regions() -> None:
    """The engine's largest target: 50 nodes over 10 regions, every port really free."""
    locs = [
        "beijing",
        "shanghai",
        "xian",
        "shenzhen",
        "chengdu",
        "us-east",
        "us-west",
        "eu-west",
        "eu-central",
        "tokyo",
    ]
    t = build_topology({loc: 5 for loc in locs})
    plan = local_plan(t, ("http",))
    assert len(t.nodes) == 50 and len(plan.links) == 10 * 50 + 50 * 49
    ports = [s.listen.port for s in plan.links.values()] + [
        e["http"].port for e in plan.node_bind.values()
    ]
    assert len(set(ports)) == 10 * 50 + 50 * 49 + 50
