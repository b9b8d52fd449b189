"""Process, clock and quorum faults on a real geokv cluster: observed on the real
processes (gone, stopped, back with a new pid), on the node's own clock (its HTTP
Date header), and on the membership."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from helpers import proc_state, wait_for

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.events import EventLog, read_events
from chaoskit.faults.base import FaultError
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("proc")
    lat = Latency(2.0, 0.0)
    topo = build_topology(
        {"beijing": {"location": "beijing", "zones": {"bj-dc1": 2}}, "xian": 1},
        latency={("beijing", "xian"): lat},
    )
    be = LocalBackend(d / "run", registry_root=d / "registry")
    with Cluster(
        topo, GeoKVAdapter({"mode": "quorum"}), be, events=EventLog(d / "events.jsonl"), seed=2
    ) as c:
        yield c


def _get(c: Cluster, node: str, timeout: float = 0.6) -> http.client.HTTPResponse | None:
    region = c.topology.node(node).region
    ep = c.plan.outside[region][node]["http"]
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        return r
    except OSError:
        return None
    finally:
        conn.close()


@pytest.fixture
def clean(cluster: Cluster) -> Iterator[None]:
    yield
    leftover = cluster.active_faults()
    cluster.heal_all()  # a failed test must not spoil the next ones
    assert not leftover
    for n in cluster.topology.nodes:
        assert cluster.backend.is_running(n.name) and _get(cluster, n.name) is not None


def test_kill_and_restart(cluster: Cluster, clean: None) -> None:
    be = cluster.backend
    pid = be.pid("xian-1")
    h = cluster.apply_fault("kill", {"target": "xian-1"})
    assert h.targets["nodes"] == ["xian-1"]
    assert not be.is_running("xian-1") and proc_state(pid) in (None, "Z")
    assert _get(cluster, "xian-1") is None
    cluster.heal(h)
    assert be.is_running("xian-1") and be.pid("xian-1") != pid
    assert _get(cluster, "xian-1").status == 200


def test_stop_and_start(cluster: Cluster, clean: None) -> None:
    h = cluster.apply_fault("stop", {"target": {"zone": "bj-dc1"}, "grace": 2.0})
    assert h.targets["nodes"] == ["beijing-1", "beijing-2"]
    assert not cluster.backend.is_running("beijing-1") and not cluster.backend.is_running(
        "beijing-2"
    )
    w = cluster.client("xian", 1.0).invoke("write", "k", 1)
    assert w.type in ("fail", "info"), "no majority without Beijing"
    s = cluster.apply_fault("start", {"target": "beijing-1"})
    assert s.targets["nodes"] == ["beijing-1"] and cluster.backend.is_running("beijing-1")
    assert cluster.client("xian", 2.0).invoke("write", "k", 2).type == "ok"
    cluster.heal(s)
    cluster.heal(h)  # starts what is still stopped (beijing-2)
    assert cluster.backend.is_running("beijing-2")


def test_pause_and_resume(cluster: Cluster, clean: None) -> None:
    pid = cluster.backend.pid("beijing-2")
    h = cluster.apply_fault("pause", {"target": "beijing-2"})
    time.sleep(0.1)
    assert proc_state(pid) == "T"
    assert _get(cluster, "beijing-2") is None, "a paused node does not answer"
    cluster.heal(h)
    assert proc_state(pid) in ("S", "R") and cluster.backend.pid("beijing-2") == pid


def test_minority_majority_random(cluster: Cluster, clean: None) -> None:
    h = cluster.apply_fault("pause", {"target": "minority"})
    assert len(h.targets["nodes"]) == 1
    cluster.heal(h)
    h = cluster.apply_fault("pause", {"target": {"random": 2, "of": "all"}}, fault_id="r")
    assert len(h.targets["nodes"]) == 2
    cluster.heal(h)
    again = cluster.apply_fault("pause", {"target": {"random": 2, "of": "all"}}, fault_id="r")
    assert again.targets["nodes"] == h.targets["nodes"], "same seed, same id: same targets"
    cluster.heal(again)


def _node_clock_offset(c: Cluster, node: str) -> float:
    """The node's wall clock minus ours, from its HTTP Date header (1 s resolution)."""
    r = _get(c, node)
    return parsedate_to_datetime(r.getheader("Date")).timestamp() - time.time()


def test_clock_skew_visible_and_reset(cluster: Cluster, clean: None, need_faketime: None) -> None:
    assert abs(_node_clock_offset(cluster, "xian-1")) < 2
    h = cluster.apply_fault("clock-skew", {"target": "xian-1", "offset": -120.0})
    assert -123 < _node_clock_offset(cluster, "xian-1") < -118
    assert abs(_node_clock_offset(cluster, "beijing-1")) < 2, "only the target is skewed"
    cluster.heal(h)
    assert abs(_node_clock_offset(cluster, "xian-1")) < 2
    h = cluster.apply_fault(
        "clock-skew", {"target": {"region": "beijing"}, "time": "2030-01-01T00:00:00"}
    )
    year = parsedate_to_datetime(_get(cluster, "beijing-1").getheader("Date")).year
    assert year == 2030
    r = cluster.apply_fault("clock-reset", {"target": "all"})
    assert abs(_node_clock_offset(cluster, "beijing-2")) < 2
    cluster.heal(r)
    cluster.heal(h)


def test_degrade_and_restore_quorum(cluster: Cluster, clean: None) -> None:
    kill = cluster.apply_fault("kill", {"target": {"region": "beijing"}})
    assert cluster.client("xian", 1.0).invoke("write", "q", 1).type in ("fail", "info")
    deg = cluster.apply_fault("degrade-quorum", {"survivors": {"region": "xian"}})
    assert cluster.system.members == ["xian-1"] and deg.targets["dropped"] == [
        "beijing-1",
        "beijing-2",
    ]
    assert cluster.client("xian", 1.0).invoke("write", "q", 2).type == "ok", (
        "the survivor serves alone"
    )
    cluster.heal(kill)  # Beijing comes back, outside the membership for now
    cluster.heal(deg)
    assert cluster.system.members == ["beijing-1", "beijing-2", "xian-1"]
    got = cluster.client("beijing", 2.0).invoke("read", "q", None)
    assert got.type == "ok" and got.value == 2


def test_restore_quorum_as_its_own_fault(cluster: Cluster, clean: None) -> None:
    kill = cluster.apply_fault("kill", {"target": {"region": "beijing"}})
    deg = cluster.apply_fault("degrade-quorum", {"survivors": {"region": "xian"}})
    assert cluster.client("xian", 1.0).invoke("write", "rq", 5).type == "ok"
    cluster.heal(kill)  # Beijing is back, still outside the membership
    assert cluster.system.members == ["xian-1"]
    r = cluster.apply_fault("restore-quorum", {})
    assert r.targets["nodes"] == ["beijing-1", "beijing-2"]
    assert cluster.system.members == ["beijing-1", "beijing-2", "xian-1"]
    assert r.id not in {h.id for h in cluster.active_faults()}, "instant: nothing to heal"
    got = cluster.client("beijing", 2.0).invoke("read", "rq", None)
    assert got.type == "ok" and got.value == 5, "the survivor's write reached the returning nodes"
    cluster.heal(deg)  # nothing left to restore: a no-op, not an error
    assert cluster.system.members == ["beijing-1", "beijing-2", "xian-1"]


def test_unknown_role_is_a_clear_error(cluster: Cluster, clean: None) -> None:
    with pytest.raises(FaultError, match="leader"):  # geokv quorum has no roles
        cluster.apply_fault("pause", {"target": "leader"})
    for n in cluster.topology.nodes:
        assert proc_state(cluster.backend.pid(n.name)) in ("S", "R"), "nothing was paused"


def test_role_selector_targets_the_systems_primaries(tmp_path: Path) -> None:
    """A system-given role (geokv unit mode: each region's primary) as a target."""
    topo = build_topology(
        {"beijing": {"location": "beijing", "zones": {"bj-dc1": 2}}, "xian": 1},
        latency={("beijing", "xian"): Latency(2.0, 0.0)},
    )
    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    with Cluster(topo, GeoKVAdapter({"mode": "unit"}), be, seed=3) as c:
        h = c.apply_fault("pause", {"target": "primary"})
        assert h.targets["nodes"] == ["beijing-1", "xian-1"]
        for n in ("beijing-1", "xian-1"):  # SIGSTOP lands asynchronously
            wait_for(lambda n=n: proc_state(be.pid(n)) == "T", 5, f"{n} stopped")
        assert proc_state(be.pid("beijing-2")) in ("S", "R"), "a replica is not a primary"
        c.heal(h)
        h = c.apply_fault("kill", {"target": {"role": "primary"}})
        assert h.targets["nodes"] == ["beijing-1", "xian-1"]
        assert not be.is_running("beijing-1") and be.is_running("beijing-2")
        c.heal(h)
        assert be.is_running("beijing-1") and be.is_running("xian-1")


def test_heal_all_in_reverse_order_and_failed_heal_reported(cluster: Cluster, clean: None) -> None:
    a = cluster.apply_fault("pause", {"target": "beijing-1"})
    b = cluster.apply_fault("kill", {"target": "xian-1"})
    # Make b's heal fail: something else takes the node's port, so it cannot come back.
    ep = cluster.plan.node_bind["xian-1"]["http"]
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((ep.host, ep.port))
    squatter.listen()
    cluster.ctx.ready_timeout_s = 2.0
    try:
        errors = cluster.heal_all("teardown")
    finally:
        squatter.close()
        cluster.ctx.ready_timeout_s = 30.0
    assert len(errors) == 1 and b.id in errors[0]
    evs = [
        e
        for e in read_events(cluster.events.path)
        if e.get("id") in (a.id, b.id) and e["event"] != "apply"
    ]
    assert [(e["event"], e["id"]) for e in evs] == [("heal-failed", b.id), ("heal", a.id)], (
        "reverse order"
    )
    assert "xian-1" in evs[0]["error"]
    assert proc_state(cluster.backend.pid("beijing-1")) in ("S", "R"), "the other heal still ran"
    cluster.apply_fault("start", {"target": "xian-1"})  # back for the other tests
