"""The docker backend's address plan (pure: no Docker needed)."""

from __future__ import annotations

import ipaddress

import pytest

from chaoskit.backends.docker import plan as dplan
from chaoskit.backends.docker.backend import short_run_id
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology
from chaoskit.units import format_offset


def topo():
    return build_topology(
        {
            "r1": {"location": "beijing", "zones": {"r1-a": 2}},
            "r2": {"location": "shanghai", "zones": {"r2-a": 1}},
            "r3": {"location": "xian", "zones": {"r3-a": 1}},
        },
        latency={("r1", "r2"): Latency(40.0, 2.0)},
    )


def make(ports=("client", "peer"), used=()):
    t = topo()
    subnets = dplan.pick_subnets(t.region_names, used, "run-1")
    lay = dplan.layout(t, ports, subnets)
    return t, lay, dplan.address_plan(t, ports, lay)


def test_get_backend_registry():
    from chaoskit.backends import get_backend
    from chaoskit.backends.docker.backend import DockerBackend

    assert get_backend("docker") is DockerBackend
    with pytest.raises(ValueError, match="valid: docker, local"):
        get_backend("kubernetes")


def test_subnets_are_free_distinct_and_private():
    used = ["10.213.0.0/16"]  # the whole pool is taken
    with pytest.raises(RuntimeError, match="no free /24"):
        dplan.pick_subnets(["a"], used, "x")
    used = [str(n) for n in list(dplan.POOL.subnets(new_prefix=24))[:250]]
    got = dplan.pick_subnets(["a", "b", "c"], used, "seed")
    nets = [ipaddress.ip_network(s) for s in got.values()]
    assert len(set(nets)) == 3
    assert all(
        n.subnet_of(dplan.POOL) and not any(n.overlaps(ipaddress.ip_network(u)) for u in used)
        for n in nets
    )


def test_ports_unique_per_node_and_links_listen_on_links_ip():
    t, lay, plan = make()
    all_ports = [p for eps in plan.node_bind.values() for p in (e.port for e in eps.values())]
    assert len(all_ports) == len(set(all_ports)) == 2 * len(t.nodes)
    for (src, dest, port), spec in plan.links.items():
        assert t.node(dest).region != src
        assert spec.listen.host == lay.nets[src].links_ip
        assert spec.listen.port == plan.node_bind[dest][port].port
        # upstream: the node's own IP (its name is the links container's alias elsewhere)
        assert spec.upstream == plan.node_bind[dest][port]
        assert spec.latency == t.rtt(src, spec.dest_region)
    # one link per (source region, node outside it, port)
    expected = sum(1 for r in t.region_names for n in t.nodes if n.region != r) * 2
    assert len(plan.links) == expected


def test_inside_uses_names_and_outside_uses_region_paths():
    t, lay, plan = make()
    for me in t.nodes:
        for peer in t.nodes:
            assert plan.inside[me.name][peer.name]["client"].host == peer.name
    for region in t.region_names:
        view = plan.client_view(region, "client")
        for n in t.nodes:
            want = lay.node_ip[n.name] if n.region == region else lay.nets[region].links_ip
            assert view[n.name].host == want
    # each node's IP is inside its region's subnet, the links IP too
    for n in t.nodes:
        net = ipaddress.ip_network(lay.nets[n.region].subnet)
        assert ipaddress.ip_address(lay.node_ip[n.name]) in net
        assert ipaddress.ip_address(lay.nets[n.region].links_ip) in net


def test_helpers():
    assert format_offset(None) == "+0" and format_offset(0) == "+0"
    assert format_offset(1500) == "+1.5" and format_offset(-250) == "-0.25"
    long = "etcd-three-regions/20261126T042959.845488Z"
    s = short_run_id(long)
    assert len(s) <= 21 and s != short_run_id(long + "x")
    assert short_run_id("abc") == "abc"


def test_node_links_listen_on_each_node_source_ip():
    t = topo()
    ports = ("client", "peer")
    lay = dplan.layout(t, ports, dplan.pick_subnets(t.region_names, (), "run-1"))
    plan = dplan.address_plan(t, ports, lay, node_links=True)
    node_links = plan.node_links
    # one per (node, peer, port)
    assert len(node_links) == len(t.nodes) * (len(t.nodes) - 1) * 2
    sources = set(lay.source_ip.values())
    assert len(sources) == len(t.nodes) and not sources & set(lay.node_ip.values())
    for s in node_links:
        assert s.listen == dplan.Endpoint(
            lay.source_ip[s.source_node], lay.ports[s.dest_node][s.port]
        )
        assert ipaddress.ip_address(s.listen.host) in ipaddress.ip_network(
            lay.nets[s.source_region].subnet
        )
        assert s.upstream == plan.node_bind[s.dest_node][s.port]
        assert s.latency == t.node_rtt(s.source_node, s.dest_node)
    # every listen address is distinct (the links container binds them all)
    assert len({s.listen for s in plan.links.values()}) == len(plan.links)
    # the host reaches even its own region's nodes through the region's client links
    assert plan.client_view("r1", "client")["r1-1"].host == lay.nets["r1"].links_ip
    assert dplan.node_hosts(t, lay, "r1-1") == {
        n.name: lay.source_ip["r1-1"] for n in t.nodes if n.name != "r1-1"
    }


def test_node_links_refused_past_the_source_ips_of_a_region():
    t = build_topology({"r1": {"location": "beijing", "zones": {"r1-a": 130}}})
    lay = dplan.layout(t, ("p",), dplan.pick_subnets(t.region_names, (), "x"))
    assert len(dplan.address_plan(t, ("p",), lay).links) == 0
    with pytest.raises(ValueError, match="at most 122 per region"):
        dplan.address_plan(t, ("p",), lay, node_links=True)
