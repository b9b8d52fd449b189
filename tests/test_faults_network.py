"""Network faults on a real 3-region geokv cluster behind the real link server:
each fault's effect observed through the links, and every heal restores the
links exactly."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.events import EventLog, read_events
from chaoskit.faults.base import FaultError
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology

REGIONS = ("beijing", "shanghai", "xian")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("net")
    lat = Latency(4.0, 0.0)  # small RTTs keep the test quick; latency faults change them
    topo = build_topology(
        {r: 1 for r in REGIONS},
        latency={("beijing", "shanghai"): lat, ("beijing", "xian"): lat, ("shanghai", "xian"): lat},
    )
    be = LocalBackend(d / "run", registry_root=d / "registry")
    with Cluster(
        topo, GeoKVAdapter({"mode": "quorum"}), be, events=EventLog(d / "events.jsonl"), seed=4
    ) as c:
        yield c


def health(
    c: Cluster, src: str, node: str, timeout: float = 0.6, body: bytes | None = None
) -> float | None:
    """Seconds for GET /health from region `src` to `node` (through its link), None if it failed."""
    ep = c.plan.outside[src][node]["http"]
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout)
    t = time.monotonic()
    try:
        if body is None:
            conn.request("GET", "/health")
        else:
            conn.request("POST", "/health", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        return time.monotonic() - t
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def reach(c: Cluster, src: str, node: str) -> bool:
    return health(c, src, node) is not None


@pytest.fixture
def baseline(cluster: Cluster) -> Iterator[dict]:
    before = cluster.link_state()
    yield before
    leftover = cluster.active_faults()
    cluster.heal_all()  # a failed test must not spoil the next ones
    assert not leftover
    assert cluster.link_state() == before, "every heal restores the links exactly"


def test_cut_region_blocks_both_ways_and_heals(cluster: Cluster, baseline: dict) -> None:
    c = cluster
    assert reach(c, "beijing", "xian-1") and reach(c, "xian", "beijing-1")
    h = c.apply_fault("cut-region", {"region": "xian"})
    assert (
        h.targets["regions"] == ["xian"] and len(h.targets["links"]) == 8
    )  # 2 client + 2 node links each way
    assert not reach(c, "beijing", "xian-1")
    assert not reach(c, "xian", "beijing-1")
    assert reach(c, "beijing", "shanghai-1"), "other regions are not touched"
    assert reach(c, "xian", "xian-1"), "inside a region traffic is direct"
    assert c.heal(h)
    assert reach(c, "beijing", "xian-1") and reach(c, "xian", "beijing-1")


def test_cut_region_refuse_fails_fast(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("cut-region", {"region": "shanghai", "mode": "refuse"})
    t = time.monotonic()
    assert not reach(cluster, "beijing", "shanghai-1")
    assert time.monotonic() - t < 0.5, "refused, not timed out"
    cluster.heal(h)
    assert reach(cluster, "beijing", "shanghai-1")


def test_partition_groups_and_rest(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("partition", {"groups": [["beijing"]]})
    assert h.targets["groups"] == [["beijing"], ["shanghai", "xian"]]
    assert not reach(cluster, "beijing", "shanghai-1") and not reach(cluster, "xian", "beijing-1")
    assert reach(cluster, "shanghai", "xian-1") and reach(cluster, "xian", "shanghai-1")
    cluster.heal(h)
    assert reach(cluster, "beijing", "shanghai-1")


def test_bridge_keeps_the_bridge_region(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("bridge", {"halves": [["beijing"], ["xian"]], "bridge": "shanghai"})
    assert not reach(cluster, "beijing", "xian-1") and not reach(cluster, "xian", "beijing-1")
    for a, b in (
        ("beijing", "shanghai-1"),
        ("shanghai", "beijing-1"),
        ("xian", "shanghai-1"),
        ("shanghai", "xian-1"),
    ):
        assert reach(cluster, a, b), (a, b)
    cluster.heal(h)


def test_one_way(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault("one-way", {"from": "beijing", "to": "xian"})
    st = cluster.link_state()
    assert st["beijing->xian-1:http"]["cut"] == "upstream"
    assert st["xian->beijing-1:http"]["cut"] == "downstream"
    assert st["beijing->shanghai-1:http"]["cut"] is None
    # Beijing's request never arrives; Xi'an's request arrives but the answer (beijing -> xian) is dropped.
    assert not reach(cluster, "beijing", "xian-1")
    assert not reach(cluster, "xian", "beijing-1")
    # Bytes xian -> beijing still flow: a write sent from xian arrives (its answer does not).
    ep = cluster.plan.outside["xian"]["beijing-1"]["http"]
    body = b'{"f": "write", "key": "oneway", "value": 77}'
    with socket.create_connection((ep.host, ep.port), timeout=1) as s:
        s.sendall(
            b"POST /op HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Geokv-Budget-Ms: 3000\r\n"
        )
        s.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(100)
    deadline = time.monotonic() + 5  # the write may still be finishing on a loaded machine
    while True:
        got = cluster.client("beijing", 2.0).invoke("read", "oneway", None)
        if (got.type == "ok" and got.value == 77) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got.type == "ok" and got.value == 77, got
    cluster.heal(h)
    assert reach(cluster, "beijing", "xian-1") and reach(cluster, "xian", "beijing-1")


def test_isolate_node_and_overlap_with_region_cut(cluster: Cluster, baseline: dict) -> None:
    cut = cluster.apply_fault("cut-region", {"region": "xian"})
    iso = cluster.apply_fault("isolate-node", {"target": "xian-1"})
    assert set(iso.targets["links"]) == {
        "beijing->xian-1:http",
        "shanghai->xian-1:http",
        "xian->xian-1:http",  # its own region's clients too
        "beijing-1->xian-1:http",
        "shanghai-1->xian-1:http",
        "xian-1->beijing-1:http",
        "xian-1->shanghai-1:http",
    }
    assert not reach(cluster, "xian", "xian-1")
    cluster.heal(iso)  # the region cut is still wanted on those links
    assert reach(cluster, "xian", "xian-1")
    assert not reach(cluster, "beijing", "xian-1")
    assert not reach(cluster, "xian", "beijing-1")
    cluster.heal(cut)
    assert reach(cluster, "beijing", "xian-1")
    iso = cluster.apply_fault("isolate-node", {"target": {"region": "xian"}})
    assert not reach(cluster, "beijing", "xian-1")
    assert reach(cluster, "xian", "beijing-1"), "the region's clients still reach other regions"
    cluster.heal(iso)


def test_latency_set_and_add(cluster: Cluster, baseline: dict) -> None:
    def rtt() -> float:
        return min(health(cluster, "beijing", "shanghai-1") or 9 for _ in range(3))

    assert rtt() < 0.1
    h1 = cluster.apply_fault(
        "latency", {"links": {"between": ["beijing", "shanghai"]}, "rtt": 0.3, "mode": "set"}
    )
    assert 0.29 < rtt() < 0.6
    h2 = cluster.apply_fault(
        "latency", {"links": {"between": ["beijing", "shanghai"]}, "rtt": 0.2, "mode": "add"}
    )
    assert 0.49 < rtt() < 0.9
    cluster.heal(h1)  # heals out of order: the base (4 ms) + 200 ms remain
    assert 0.19 < rtt() < 0.45
    cluster.heal(h2)
    assert rtt() < 0.1


def test_latency_jitter_spreads_round_trips(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault(
        "latency",
        {"links": {"between": ["beijing", "xian"]}, "rtt": 0.2, "jitter": 0.1, "mode": "set"},
    )
    assert h.targets["jitter_ms"] == 100
    got = [health(cluster, "beijing", "xian-1", timeout=2) for _ in range(8)]
    assert all(g is not None and g > 0.08 for g in got), got
    # uniform +/- jitter on each direction: 8 round trips do not all land within 30 ms
    assert max(got) - min(got) > 0.03, f"no jitter visible: {got}"
    cluster.heal(h)


def test_bandwidth(cluster: Cluster, baseline: dict) -> None:
    body = b"x" * 3000
    fast = health(cluster, "beijing", "xian-1", timeout=5, body=body)
    assert fast is not None and fast < 0.5
    h = cluster.apply_fault("bandwidth", {"links": {"region": "xian"}, "rate_kbps": 1})
    slow = health(cluster, "beijing", "xian-1", timeout=10, body=body)
    assert slow is not None and slow > 1.5, f"3 KB at 1 KB/s took {slow}"
    cluster.heal(h)


def test_flaky_reset_peer(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault(
        "flaky", {"links": "all", "kind": "reset_peer", "probability": 1.0, "timeout": 0.0}
    )
    assert h.targets["probability"] == 1.0
    assert not reach(cluster, "beijing", "xian-1")
    cluster.heal(h)
    assert reach(cluster, "beijing", "xian-1")


def test_flaky_timeout_holds_connections(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault(
        "flaky", {"links": {"region": "xian"}, "kind": "timeout", "probability": 1.0}
    )
    assert h.targets["kind"] == "timeout"
    t = time.monotonic()
    assert not reach(cluster, "beijing", "xian-1")
    assert time.monotonic() - t >= 0.5, "held until the client gave up, not refused"
    assert reach(cluster, "beijing", "shanghai-1"), "only the matching links"
    cluster.heal(h)
    assert reach(cluster, "beijing", "xian-1")


def test_flaky_slicer_delays_bytes(cluster: Cluster, baseline: dict) -> None:
    body = b"x" * 3000
    fast = health(cluster, "beijing", "xian-1", timeout=5, body=body)
    assert fast is not None and fast < 0.5
    h = cluster.apply_fault(
        "flaky",
        {
            "links": {"between": ["beijing", "xian"]},
            "kind": "slicer",
            "probability": 1.0,
            "average_size": 100,
            "size_variation": 0,
            "delay_us": 50_000,
        },
    )
    # ~30 slices of 100 bytes, 50 ms apart: the request still arrives, slowly.
    slow = health(cluster, "beijing", "xian-1", timeout=10, body=body)
    assert slow is not None and slow > 1.0, f"3 KB in 100-byte slices took {slow}"
    cluster.heal(h)
    again = health(cluster, "beijing", "xian-1", timeout=5, body=body)
    assert again is not None and again < 0.5


def test_flaky_probability_hits_some_connections(cluster: Cluster, baseline: dict) -> None:
    h = cluster.apply_fault(
        "flaky",
        {"links": {"between": ["beijing", "xian"]}, "kind": "reset_peer", "probability": 0.5},
    )
    # Each connection draws per toxic (one per direction): ~25 % get through.
    got = [reach(cluster, "beijing", "xian-1") for _ in range(40)]
    assert 0 < sum(got) < 40, f"{sum(got)}/40 got through at probability 0.5"
    cluster.heal(h)
    assert all(reach(cluster, "beijing", "xian-1") for _ in range(5))


def test_random_region_is_reproducible(cluster: Cluster, baseline: dict) -> None:
    a = cluster.apply_fault("cut-region", {"region": "random"}, fault_id="same")
    cluster.heal(a)
    b = cluster.apply_fault("cut-region", {"region": "random"}, fault_id="same")
    cluster.heal(b)
    assert a.targets["regions"] == b.targets["regions"]


def test_bad_fault_is_reported_and_changes_nothing(cluster: Cluster, baseline: dict) -> None:
    with pytest.raises(FaultError, match="tokyo"):
        cluster.apply_fault("cut-region", {"region": "tokyo"})
    with pytest.raises(FaultError, match="unknown fault"):
        cluster.apply_fault("cut-regoin", {"region": "xian"})
    assert cluster.faults.errors


def test_events_record_apply_and_heal_with_targets(
    cluster: Cluster, baseline: dict, tmp_path: Path
) -> None:
    h = cluster.apply_fault("cut-region", {"region": "beijing"}, source="gameday-terminal")
    cluster.heal(h)
    evs = [e for e in read_events(cluster.events.path) if e.get("id") == h.id]
    assert [e["event"] for e in evs] == ["apply", "heal"]
    assert evs[0]["targets"]["nodes"] == ["beijing-1"] and evs[0]["source"] == "gameday-terminal"
    assert evs[0]["time"] < evs[1]["time"]
