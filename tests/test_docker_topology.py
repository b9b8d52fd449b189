"""A real 3-region Docker topology: peer names through each node's own links, link
latency between containers (regions and zones), cut-region and a cut between two
nodes of one region both ways and heal, libfaketime in a geokv container."""

from __future__ import annotations

import json
import statistics
import time
from email.utils import parsedate_to_datetime
from urllib.request import urlopen

import pytest
from conftest import docker_ok, need

from chaoskit.testing.docker import exec_python, leftovers
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology

pytestmark = pytest.mark.docker

# Connect to a node by NAME from inside a container, time one HTTP request per
# fresh connection (the proxy accepts locally; the request and its answer cross
# the link: one RTT).
PROBE = """
import json, socket, time
out = []
for _ in range({n}):
    t = time.monotonic()
    try:
        s = socket.create_connection(({host!r}, {port}), timeout={timeout})
        s.settimeout({timeout})
        s.sendall(b"GET /health HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
        data = s.recv(64)
        s.close()
        out.append((time.monotonic() - t) * 1000 if data.startswith(b"HTTP/") else None)
    except OSError:
        out.append(None)
print(json.dumps(out))
"""


def probe(backend, src: str, dest: str, port: int, n: int = 1, timeout: float = 1.5) -> list:
    code = PROBE.format(n=n, host=dest, port=port, timeout=timeout)
    return json.loads(exec_python(backend, src, code).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cluster():
    need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")
    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.cluster import Cluster
    from chaoskit.systems.geokv.adapter import GeoKVAdapter

    topo = build_topology(
        {
            "r1": {"location": "beijing", "zones": {"r1-a": 1, "r1-b": 1}},
            "r2": {"location": "shanghai", "zones": {"r2-a": 1}},
            "r3": {"location": "xian", "zones": {"r3-a": 1}},
        },
        clients={"r1": 1, "r2": 1, "r3": 1},
        latency={("r1", "r2"): Latency(40.0, 0.0), ("r1-a", "r1-b"): Latency(20.0, 0.0)},
    )

    class SkewedGeoKV(GeoKVAdapter):
        def node_spec(self, node, ctx):  # every node under libfaketime
            spec = super().node_spec(node, ctx)
            spec.faketime = True
            return spec

    backend = DockerBackend()
    c = Cluster(topo, SkewedGeoKV({"mode": "quorum"}), backend, ready_timeout_s=60)
    try:
        c.up()
        yield c
    finally:
        c.down()
        assert leftovers(backend.run_id) == []
        assert not backend.workdir.exists()


def test_peer_names_resolve_to_the_node_own_links(cluster):
    b, plan = cluster.backend, cluster.plan
    for src in ("r1-1", "r1-2", "r2-1", "r3-1"):
        source_ip = b.layout.source_ip[src]
        for dest in ("r1-1", "r1-2", "r2-1", "r3-1"):
            if dest == src:
                continue
            rc, out = b.exec(src, ["getent", "hosts", dest])
            assert rc == 0, out
            ip = out.split()[0]
            assert ip == source_ip
            # the link listening there is this (node, peer) pair's proxy
            spec = plan.links[(src, dest, "http")]
            assert str(spec.listen) == f"{ip}:{plan.node_bind[dest]['http'].port}"
    # the host reaches every node through its region's client links (plan.outside)
    view = plan.client_view("r1")
    assert view["r1-1"].host == b.links_ip("r1") and view["r2-1"].host == b.links_ip("r1")


def test_20ms_between_zones_of_one_region(cluster):
    port = cluster.plan.node_bind["r1-2"]["http"].port
    rtt = probe(cluster.backend, "r1-1", "r1-2", port, n=7)
    assert None not in rtt, rtt
    assert min(rtt) >= 18.0 and statistics.median(rtt) <= 80.0, rtt


def test_cut_between_two_nodes_of_one_region_and_heal(cluster):
    from chaoskit.faults.domains import links_between_nodes
    from chaoskit.links.control import LinkControl

    b, plan = cluster.backend, cluster.plan
    names = [s.name for s in links_between_nodes(plan, {"r1-1"}, {"r1-2"})]
    p1, p2 = plan.node_bind["r1-1"]["http"].port, plan.node_bind["r1-2"]["http"].port
    with LinkControl(b.api_url, token=b.links_token) as links:
        links.cut(names)
        try:
            assert probe(b, "r1-1", "r1-2", p2, n=2, timeout=1.0) == [None, None]
            assert probe(b, "r1-2", "r1-1", p1, n=2, timeout=1.0) == [None, None]
            assert None not in probe(b, "r1-2", "r2-1", plan.node_bind["r2-1"]["http"].port)
        finally:
            links.heal(names)
    assert None not in probe(b, "r1-1", "r1-2", p2, n=2)
    assert None not in probe(b, "r1-2", "r1-1", p1, n=2)


def test_40ms_link_measures_40ms_between_containers(cluster):
    port = cluster.plan.node_bind["r2-1"]["http"].port
    local_port = cluster.plan.node_bind["r1-1"]["http"].port
    remote = probe(cluster.backend, "r1-1", "r2-1", port, n=9)
    local = probe(cluster.backend, "r1-1", "r1-1", local_port, n=5)
    assert None not in remote and None not in local, (remote, local)
    med = statistics.median(remote)
    # one RTT of the link (40 ms) plus container overhead on a loaded 2-core machine
    assert 38.0 <= med <= 90.0, remote
    assert min(remote) >= 38.0, remote  # never faster than the link's latency
    assert statistics.median(local) < 20.0, local  # same region: direct, no link


def test_cut_region_stops_both_ways_and_heal_restores(cluster):
    from chaoskit.links.control import LinkControl

    b, plan = cluster.backend, cluster.plan
    names = [s.name for s in plan.links_touching("r2")]
    p1, p2 = plan.node_bind["r1-1"]["http"].port, plan.node_bind["r2-1"]["http"].port
    with LinkControl(b.api_url, token=b.links_token) as links:
        links.cut(names)
        try:
            assert probe(b, "r1-1", "r2-1", p2, n=2, timeout=1.0) == [None, None]  # into r2
            assert probe(b, "r2-1", "r1-1", p1, n=2, timeout=1.0) == [None, None]  # out of r2
            assert None not in probe(b, "r1-1", "r3-1", plan.node_bind["r3-1"]["http"].port)
        finally:
            links.heal(names)
    assert None not in probe(b, "r1-1", "r2-1", p2, n=2)
    assert None not in probe(b, "r2-1", "r1-1", p1, n=2)


def test_faketime_skew_visible_in_geokv_container(cluster):
    b, node = cluster.backend, "r3-1"
    ep = cluster.plan.node_bind[node]["http"]

    def server_clock() -> float:
        # geokv's HTTP Date header comes from the node process's own wall clock.
        with urlopen(f"http://{ep.host}:{ep.port}/health", timeout=5) as r:
            return parsedate_to_datetime(r.headers["Date"]).timestamp()

    def exec_clock() -> float:
        return float(exec_python(b, node, "import time; print(time.time())").strip())

    assert abs(server_clock() - time.time()) < 5
    b.set_clock_offset(node, 3_600_000)  # +1 h, live: the process is not restarted
    try:
        assert abs(server_clock() - time.time() - 3600) < 5
        assert abs(exec_clock() - time.time() - 3600) < 5
        b.set_clock_offset(node, -1500)
        assert abs(exec_clock() - time.time() + 1.5) < 1.0
    finally:
        b.set_clock_offset(node, None)
    assert abs(server_clock() - time.time()) < 5
    assert b.is_running(node)

    # The same through the engine's fault catalogue (what a schedule entry does).
    h = cluster.apply_fault("clock-skew", {"target": {"node": node}, "offset": -7200.0})
    try:
        assert abs(server_clock() - time.time() + 7200) < 5
    finally:
        assert cluster.heal(h), h.heal_error
    assert abs(server_clock() - time.time()) < 5


def test_pause_fault_freezes_the_container_and_heal_resumes(cluster):
    b, plan = cluster.backend, cluster.plan
    port = plan.node_bind["r2-1"]["http"].port
    h = cluster.apply_fault("pause", {"target": {"node": "r2-1"}})
    try:
        # frozen (docker pause): nothing answers, through the link or locally
        assert probe(b, "r1-1", "r2-1", port, n=1, timeout=1.0) == [None]
        assert b.is_running("r2-1")  # paused still counts as running
    finally:
        assert cluster.heal(h), h.heal_error
    assert None not in probe(b, "r1-1", "r2-1", port, n=2)
