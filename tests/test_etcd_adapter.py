"""EtcdAdapter without a cluster: validation, node flags, raft timings, client choice."""

from __future__ import annotations

from chaoskit.backends.docker import plan as dplan
from chaoskit.systems import get_adapter
from chaoskit.systems.base import SystemContext
from chaoskit.systems.etcd.adapter import CLOCK_SKEW_REASON, OUTSIDE_ARGV, EtcdAdapter
from chaoskit.systems.etcd.client import EtcdClient
from chaoskit.topology.model import Endpoint, Latency
from chaoskit.topology.plan import build_topology


def ctx():
    t = build_topology(
        {
            "bj": {"location": "beijing", "zones": {"bj-a": 2}},
            "xa": {"location": "xian", "zones": {"xa-a": 1}},
        },
        latency={("bj", "xa"): Latency(220.0, 10.0)},
    )
    lay = dplan.layout(t, ("client", "peer"), dplan.pick_subnets(t.region_names, [], "x"))
    plan = dplan.address_plan(t, ("client", "peer"), lay)
    return SystemContext(t, plan, backend=None, members=[n.name for n in t.nodes])  # type: ignore[arg-type]


def test_registered_and_contract_flags():
    assert get_adapter("etcd") is EtcdAdapter
    a = EtcdAdapter()
    assert a.ports == ("client", "peer")
    assert a.needs_single_address and not a.supports_clock_skew
    assert "libfaketime" in CLOCK_SKEW_REASON and "Go" in CLOCK_SKEW_REASON


def test_validate_names_the_problem():
    assert EtcdAdapter().validate("docker") == []
    (msg,) = EtcdAdapter().validate("local")
    assert "backend: docker" in msg and "one address" in msg
    probs = dict(EtcdAdapter.check_options({"heartbeat_ms": -1, "bogus": 1}, "docker", None))
    assert "> 0" in probs[("heartbeat_ms",)]
    assert "unknown etcd option; valid: " in probs[("bogus",)]
    assert "leader_region" in probs[("bogus",)]
    assert EtcdAdapter.check_options({"heartbeat_ms": 50, "leader_region": "bj"}, None, None) == []


def test_node_spec_flags_and_timings():
    c = ctx()
    a = EtcdAdapter()
    spec = a.node_spec("bj-1", c)
    argv = spec.argv
    flag = {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}
    cport, pport = c.plan.node_bind["bj-1"]["client"].port, c.plan.node_bind["bj-1"]["peer"].port
    assert argv[0] == "etcd" and flag["--name"] == "bj-1" and flag["--data-dir"] == "{data_dir}"
    assert flag["--advertise-client-urls"] == f"http://bj-1:{cport}"
    assert flag["--initial-advertise-peer-urls"] == f"http://bj-1:{pport}"
    assert flag["--initial-cluster"].split(",") == [
        f"{n}=http://{n}:{c.plan.node_bind[n]['peer'].port}" for n in c.members
    ]
    assert flag["--initial-cluster-state"] == "new"
    # heartbeat follows the largest RTT (+2 jitter), election = 10 x heartbeat
    assert (flag["--heartbeat-interval"], flag["--election-timeout"]) == ("240", "2400")
    assert "--force-new-cluster" not in argv and not spec.clean_data
    assert "--pre-vote" in argv  # returning members must not force elections
    assert EtcdAdapter({"heartbeat_ms": 50, "election_ms": 700}).timings(c) == (50, 700)


def test_dropped_member_idles_outside_the_cluster():
    c = ctx()
    c.members.remove("bj-2")
    assert EtcdAdapter().node_spec("bj-2", c).argv == OUTSIDE_ARGV


def test_client_prefers_its_region():
    a = EtcdAdapter()
    view = {
        "bj-1": {"client": Endpoint("10.0.0.2", 1)},
        "xa-1": {"client": Endpoint("10.0.0.10", 3)},
        "bj-2": {"client": Endpoint("10.0.0.2", 2)},
    }
    cl = a.client(view, "xa", 1.0)
    assert isinstance(cl, EtcdClient)
    assert cl.endpoints[0] == Endpoint("10.0.0.10", 3) and len(cl.endpoints) == 3


def test_client_refused_is_fail_for_everything():
    # A port nobody listens on: the request never left, so even a write is `fail`.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cl = EtcdClient([Endpoint("127.0.0.1", port)], 1.0)
    for f, v in (("read", None), ("write", 1), ("cas", [1, 2])):
        out = cl.invoke(f, "k", v)
        assert out.type == "fail", (f, out)


def test_client_unanswered_write_is_info_read_is_fail():
    # A server that accepts and never answers (a cut link, a stalled leader):
    # the write was sent and may have been applied -> info; a read had no effect -> fail.
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        cl = EtcdClient([Endpoint("127.0.0.1", srv.getsockname()[1])], 0.5)
        assert cl.invoke("write", "k", 1).type == "info"
        assert cl.invoke("cas", "k", [1, 2]).type == "info"
        read = cl.invoke("read", "k", None)
        assert read.type == "fail" and read.error == "timeout"
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        srv.close()
