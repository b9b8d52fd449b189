"""Zone and node failure domains on a real geokv cluster behind the real link server:
the RTT between two data centres measured through a node link, and every zone /
node-group fault observed on the paths it cuts (and not on the others), then
healed exactly. Plus their validation errors, each at its line."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import experiment_errors

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.events import EventLog
from chaoskit.faults.base import FaultError
from chaoskit.faults.domains import majorities_ring_pairs
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import RegionDef, build_topology

ZONE_RTT = Latency(30.0, 0.0)  # big enough to measure above the proxy's own cost


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("domains")
    topo = build_topology(
        {
            "beijing": RegionDef("beijing", {"bj-dc1": 2, "bj-dc2": 2}),
            "xian": RegionDef("xian", {"xa-dc1": 1}),
        },
        latency={("beijing", "xian"): Latency(4.0, 0.0), ("bj-dc1", "bj-dc2"): ZONE_RTT},
    )
    be = LocalBackend(d / "run", registry_root=d / "registry")
    with Cluster(
        topo, GeoKVAdapter({"mode": "quorum"}), be, events=EventLog(d / "events.jsonl"), seed=3
    ) as c:
        yield c


def rtt(c: Cluster, src: str, dst: str, timeout: float = 0.8) -> float | None:
    """Seconds for GET /health sent from `src` (a node: through its node link; a
    region: through its client link) to node `dst`; None if it failed."""
    view = c.plan.inside[src] if src in c.plan.inside else c.plan.outside[src]
    ep = view[dst]["http"]
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout)
    t = time.monotonic()
    try:
        conn.request("GET", "/health")
        conn.getresponse().read()
        return time.monotonic() - t
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def best_rtt(c: Cluster, src: str, dst: str) -> float:
    got = [rtt(c, src, dst) for _ in range(4)]
    assert all(g is not None for g in got), f"{src} -> {dst} failed"
    return min(g for g in got if g is not None)


@pytest.fixture
def baseline(cluster: Cluster) -> Iterator[dict]:
    before = cluster.link_state()
    yield before
    leftover = cluster.active_faults()
    cluster.heal_all()
    assert not leftover
    assert cluster.link_state() == before, "every heal restores the links exactly"


def test_rtt_between_two_zones_is_measured(cluster: Cluster, baseline: dict) -> None:
    same_zone = best_rtt(cluster, "beijing-1", "beijing-2")
    cross_zone = best_rtt(cluster, "beijing-1", "beijing-3")
    assert same_zone < 0.02
    assert 0.029 < cross_zone < 0.2, cross_zone
    assert cluster.plan.links[("beijing-1", "beijing-3", "http")].latency == ZONE_RTT


def test_cut_zone_loses_the_data_centre_not_the_city(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("cut-zone", {"zone": "bj-dc1"})
    assert h.targets["zones"] == ["bj-dc1"] and h.targets["nodes"] == ["beijing-1", "beijing-2"]
    assert "beijing-1->beijing-2:http" not in h.targets["links"]  # inside the zone: up
    assert rtt(cluster, "beijing-1", "beijing-2") is not None
    for src, dst in [
        ("beijing-1", "beijing-3"),
        ("beijing-3", "beijing-1"),
        ("xian-1", "beijing-2"),
        ("beijing", "beijing-1"),  # the city's own clients lose the DC
        ("xian", "beijing-2"),
    ]:
        assert rtt(cluster, src, dst, timeout=0.3) is None, (src, dst)
    assert rtt(cluster, "beijing", "beijing-3") is not None  # the city still serves
    assert rtt(cluster, "beijing-3", "xian-1") is not None
    cluster.heal(h)
    assert rtt(cluster, "beijing-1", "beijing-3") is not None


def test_partition_nodes_inside_one_zone(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("partition-nodes", {"groups": [["beijing-1"], [{"node": "beijing-2"}]]})
    assert h.targets["groups"][:2] == [["beijing-1"], ["beijing-2"]]
    assert rtt(cluster, "beijing-1", "beijing-2", timeout=0.3) is None
    assert rtt(cluster, "beijing-2", "beijing-1", timeout=0.3) is None
    assert rtt(cluster, "beijing", "beijing-1") is not None, "clients reach every node"
    cluster.heal(h)
    assert rtt(cluster, "beijing-1", "beijing-2") is not None
    with pytest.raises(FaultError, match="groups must not overlap"):
        cluster.apply_fault("partition-nodes", {"groups": [["beijing-1"], [{"zone": "bj-dc1"}]]})


def test_majorities_ring(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("majorities-ring", {})
    views = h.targets["views"]
    assert len(views) == 5
    assert all(len(v) >= 3 for v in views.values()), "every node sees a majority"
    assert len({tuple(v) for v in views.values()}) == 5, "no two see the same one"
    ring = h.targets["ring"]
    assert rtt(cluster, ring[0], ring[1]) is not None
    assert rtt(cluster, ring[0], ring[2], timeout=0.3) is None
    cluster.heal(h)
    assert rtt(cluster, ring[0], ring[2]) is not None
    for n in range(4, 12):
        nodes = [str(i) for i in range(n)]
        pairs = majorities_ring_pairs(nodes)
        views = [frozenset(m for m in nodes if frozenset((x, m)) not in pairs) for x in nodes]
        assert min(map(len, views)) >= n // 2 + 1 and len(set(views)) == n
    with pytest.raises(FaultError, match="at least 4 nodes"):
        majorities_ring_pairs(["a", "b", "c"])


def test_random_halves_replay_from_the_seed(cluster: Cluster, baseline: dict) -> None:
    h1 = cluster.apply_fault("random-halves", {}, fault_id="rh")
    groups = h1.targets["groups"]
    assert sorted(map(len, groups)) == [2, 3]
    a, b = groups[0][0], groups[1][0]
    assert rtt(cluster, a, b, timeout=0.3) is None
    cluster.heal(h1)
    h2 = cluster.apply_fault("random-halves", {}, fault_id="rh")
    assert h2.targets["groups"] == groups
    cluster.heal(h2)


def test_one_way_between_nodes(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("one-way", {"from": {"node": "beijing-1"}, "to": {"zone": "bj-dc2"}})
    assert h.targets["from"] == ["beijing-1"] and h.targets["to"] == ["beijing-3", "beijing-4"]
    state = cluster.link_state()
    assert state["beijing-1->beijing-3:http"]["cut"] == "upstream"
    assert state["beijing-3->beijing-1:http"]["cut"] == "downstream"
    assert state["beijing-2->beijing-3:http"]["cut"] is None
    assert rtt(cluster, "beijing-1", "beijing-3", timeout=0.3) is None
    assert rtt(cluster, "beijing-2", "beijing-3") is not None
    cluster.heal(h)


def test_isolate_node_from_its_own_zone(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("isolate-node", {"target": "beijing-2"})
    for src, dst in [
        ("beijing-1", "beijing-2"),
        ("beijing-2", "beijing-1"),
        ("beijing", "beijing-2"),
    ]:
        assert rtt(cluster, src, dst, timeout=0.3) is None, (src, dst)
    assert rtt(cluster, "beijing-1", "beijing-3") is not None
    cluster.heal(h)


EXP = """\
name: zones
backend: {backend}
topology:
  regions:
    beijing: {{location: beijing, zones: {{bj-dc1: {n1}, bj-dc2: 1}}}}
  latency: {{bj-dc1-bj-dc2: 1.5ms}}
system: {{kind: geokv, mode: quorum}}
load: {{duration: 10s}}
schedule:
  - {{at: 1s, for: 2s, fault: {fault}}}
"""


def errors(tmp_path: Path, fault: str, backend: str = "local", n1: int = 3) -> list:
    return experiment_errors(tmp_path, EXP.format(fault=fault, backend=backend, n1=n1))


def test_validation(tmp_path: Path) -> None:
    assert errors(tmp_path, "cut-zone, zone: bj-dc2") == []
    assert errors(tmp_path, "majorities-ring") == []
    assert errors(tmp_path, "partition-nodes, groups: [[beijing-1], [{zone: bj-dc2}]]") == []
    (e,) = errors(tmp_path, "cut-zone, zone: bj-dc3")
    assert e.line == 10 and e.field == "schedule.0.zone" and "bj-dc1, bj-dc2" in e.message
    # the docker backend has node links too (docs/docker.md)
    assert errors(tmp_path, "cut-zone, zone: bj-dc1", backend="docker") == []
    assert (
        errors(tmp_path, "one-way, from: {node: beijing-1}, to: {zone: bj-dc2}", backend="docker")
        == []
    )
    (e,) = errors(tmp_path, "majorities-ring", n1=1)
    assert "at least 4 nodes" in e.message
    (e,) = errors(tmp_path, "partition-nodes, groups: [[beijing-1], [{zone: nope}]]")
    assert e.field == "schedule.0.groups.1.0.zone"
    (e,) = errors(tmp_path, "one-way, from: {node: beijing-9}, to: beijing")
    assert e.field == "schedule.0.from.node"
