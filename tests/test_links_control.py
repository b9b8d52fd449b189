"""The control layer against a real link server and real nodes (echo servers),
through the batch extension and through the plain Toxiproxy API (use_batch=False,
what a real Toxiproxy gets)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager

import pytest
from helpers import free_port

from chaoskit.links.control import (
    REFUSE_MARKER,
    LinkControl,
    LinkError,
    cut_region_names,
    one_way_names,
    pair_link_names,
)
from chaoskit.links.server import LinkServer
from chaoskit.testing.links import EchoServer, TcpServer
from chaoskit.topology.model import AddressPlan, Endpoint, Latency, LinkSpec, link_name

RTT = {("a", "b"): Latency(40.0), ("a", "c"): Latency(20.0), ("b", "c"): Latency(30.0)}


def make_plan(nodes: dict[str, tuple[str, str]]) -> AddressPlan:
    """nodes: name -> (region, "host:port" of its real server). One link per
    (source region, node outside it); listen on port 0 (build() reports the port)."""
    regions = sorted({r for r, _ in nodes.values()})
    links = {}
    for src in regions:
        for node, (region, addr) in nodes.items():
            if region == src:
                continue
            host, port = addr.rsplit(":", 1)
            lat = RTT[(src, region) if src < region else (region, src)]
            spec = LinkSpec(
                name=link_name(src, node, "tcp"),
                source_region=src,
                dest_node=node,
                dest_region=region,
                port="tcp",
                listen=Endpoint("127.0.0.1", 0),
                upstream=Endpoint(host, int(port)),
                latency=lat,
            )
            links[(src, node, "tcp")] = spec
    bind = {n: {"tcp": Endpoint(*a.rsplit(":", 1))} for n, (_, a) in nodes.items()}
    return AddressPlan(ports=("tcp",), node_bind=bind, links=links, inside={}, outside={})  # type: ignore[arg-type]


class Greeter:
    """A node that says hi on connect and records what it receives (shows one-way cuts)."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.srv = TcpServer(self._handle)

    def _handle(self, sock: socket.socket) -> None:
        sock.sendall(b"hi")
        while True:
            d = sock.recv(1024)
            if not d:
                return
            self.received += d


# A real Toxiproxy server binary, if the developer has one (it cannot be installed
# from the registries these machines reach, so CI never has it): every control test
# then also runs against it. E.g. CHAOSKIT_TOXIPROXY_SERVER=/usr/local/bin/toxiproxy-server
TOXIPROXY_BIN = os.environ.get("CHAOSKIT_TOXIPROXY_SERVER")
BACKENDS = [("chaoskit", None), ("chaoskit", False)] + (
    [("toxiproxy", None)] if TOXIPROXY_BIN else []
)


@contextmanager
def real_toxiproxy():
    for _ in range(5):  # the binary cannot report a port it picked: find one, retry on a race
        port = free_port()
        proc = subprocess.Popen(
            [TOXIPROXY_BIN, "-host", "127.0.0.1", "-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            LinkControl(f"http://127.0.0.1:{port}").wait_ready(5)
        except LinkError:
            proc.kill()
            proc.wait()
            continue
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)
        return
    raise RuntimeError(f"could not start {TOXIPROXY_BIN}")


@pytest.fixture(
    params=BACKENDS,
    ids=lambda b: {None: "batch", False: "plain"}[b[1]] if b[0] == "chaoskit" else "real-toxiproxy",
)
def backend(request):
    """(API URL, use_batch): chaoskit's server through the batch extension, the same
    server through plain Toxiproxy requests only, and a real Toxiproxy if available."""
    kind, use_batch = request.param
    if kind == "chaoskit":
        with LinkServer() as s:
            yield s.url, use_batch
    else:
        with real_toxiproxy() as url:
            yield url, use_batch


@pytest.fixture
def world(backend):
    """A link server, echo nodes a1, b1, b2, c1 in regions a, b, c, and their plan."""
    url, _ = backend
    with ExitStack() as st:
        nodes = {}
        for n, r in (("a1", "a"), ("b1", "b"), ("b2", "b"), ("c1", "c")):
            nodes[n] = (r, st.enter_context(EchoServer()).address)
        plan = make_plan(nodes)
        yield url, plan


@pytest.fixture
def ctl(backend, world):
    url, use_batch = backend
    _, plan = world
    c = LinkControl(url, use_batch=use_batch)
    c.wait_ready()
    c.listens = c.build(plan)
    yield c
    c.close()


def addr_of(ctl: LinkControl, name: str) -> tuple[str, int]:
    host, port = ctl.listens[name].rsplit(":", 1)
    return host, int(port)


def rtt_ms(ctl: LinkControl, name: str, timeout: float = 2.0) -> float:
    with socket.create_connection(addr_of(ctl, name), timeout=timeout) as c:
        t = time.perf_counter()
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        return (time.perf_counter() - t) * 1000


def blocked(ctl: LinkControl, name: str) -> bool:
    """True if a request/response through the link does not come back (blackhole or refused)."""
    try:
        with socket.create_connection(addr_of(ctl, name), timeout=0.4) as c:
            c.sendall(b"x")
            return c.recv(1) != b"x"
    except (TimeoutError, ConnectionError):
        return True


def test_build_creates_every_link_with_its_latency(ctl, world):
    _, plan = world
    assert ctl.names() == sorted(s.name for s in plan.links.values())
    st = ctl.state()
    for spec in plan.links.values():
        s = st[spec.name]
        assert s["enabled"] and s["cut"] is None
        lat = {t["name"]: t["attributes"]["latency"] for t in s["toxics"]}
        assert lat == {
            "latency_upstream": spec.latency.rtt_ms / 2,
            "latency_downstream": spec.latency.rtt_ms / 2,
        }
    # a -> b1 carries the a-b RTT of 40 ms as 20 ms each way
    rtt = rtt_ms(ctl, link_name("a", "b1", "tcp"))
    assert 39 <= rtt < 40 + 60
    # build again replaces (no 409) and keeps the same names
    ctl.build(plan)
    assert len(ctl.names()) == len(plan.links)


def test_cut_region_blocks_both_directions_and_heal_restores(ctl, world):
    _, plan = world
    names = cut_region_names(plan, "b")
    assert names == sorted(s.name for s in plan.links_touching("b"))
    before = ctl.state()
    ctl.cut(names)
    st = ctl.state()
    assert all(st[n]["cut"] == "both" and st[n]["mode"] == "blackhole" for n in names)
    assert blocked(ctl, link_name("a", "b1", "tcp"))  # into b
    assert blocked(ctl, link_name("b", "a1", "tcp"))  # out of b
    assert not blocked(ctl, link_name("a", "c1", "tcp"))  # a <-> c untouched
    ctl.cut(names)  # cutting again is harmless
    ctl.heal(names)
    assert ctl.state() == before  # exactly as before, latency kept
    assert rtt_ms(ctl, link_name("a", "b1", "tcp")) >= 39
    assert rtt_ms(ctl, link_name("b", "a1", "tcp")) >= 39
    ctl.heal(names + ["no-such-link"])  # healing what is not cut is fine


def test_refuse_mode_and_heal(ctl, world):
    _, plan = world
    names = cut_region_names(plan, "c")
    before = ctl.state()
    ctl.cut(names, mode="refuse")
    st = ctl.state()
    assert all(
        st[n]["cut"] == "both" and st[n]["mode"] == "refuse" and not st[n]["enabled"] for n in names
    )
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr_of(ctl, link_name("a", "c1", "tcp")), timeout=2)
    ctl.heal(names)
    assert ctl.state() == before
    assert rtt_ms(ctl, link_name("a", "c1", "tcp")) >= 9


@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_one_way_cuts(ctl, world, direction):
    url, _ = world
    g = Greeter()
    with g.srv:
        p = LinkControl(url)
        plan = make_plan({"g1": ("b", g.srv.address), "a1": ("a", "127.0.0.1:9")})
        listens = p.build(plan)
        name = link_name("a", "g1", "tcp")
        host, port = listens[name].rsplit(":", 1)
        ctl.cut([name], direction=direction)
        assert ctl.state()[name]["cut"] == direction
        with socket.create_connection((host, int(port)), timeout=0.8) as c:
            c.sendall(b"ping")
            try:
                greeting = c.recv(2)
            except TimeoutError:
                greeting = b""
            time.sleep(0.3)
        if direction == "upstream":  # node -> client still flows, client -> node is dropped
            assert greeting == b"hi" and g.received == b""
        else:
            assert greeting == b"" and g.received == b"ping"
        ctl.heal([name])
        assert ctl.state()[name]["cut"] is None
        p.close()


def test_one_way_names_and_pairs(world):
    _, plan = world
    ow = one_way_names(plan, "a", "b")
    assert ow["upstream"] == [link_name("a", "b1", "tcp"), link_name("a", "b2", "tcp")]
    assert ow["downstream"] == [link_name("b", "a1", "tcp")]
    assert pair_link_names(plan, "a", "b") == sorted(ow["upstream"] + ow["downstream"])
    with pytest.raises(ValueError, match="no links touch region 'z'"):
        cut_region_names(plan, "z")


def test_set_latency_reaches_open_connections(ctl):
    name = link_name("a", "c1", "tcp")
    with socket.create_connection(addr_of(ctl, name), timeout=5) as c:

        def rtt() -> float:
            t = time.perf_counter()
            c.sendall(b"x")
            assert c.recv(1) == b"x"
            return (time.perf_counter() - t) * 1000

        def best() -> float:  # a loaded machine stalls one round trip, a toxic all
            return min(rtt() for _ in range(3))

        assert 19 <= best() < 80
        ctl.set_latency([name], Latency(100.0, 0.0))
        assert best() >= 99
        ctl.set_latency([name], Latency(0.0))
        assert best() < 19
        assert ctl.state()[name]["toxics"] == []


def test_add_and_remove_toxic_all_or_nothing(ctl, world):
    _, plan = world
    a, b = link_name("a", "b1", "tcp"), link_name("a", "b2", "tcp")
    ctl.add_toxic([a], "bandwidth", {"rate": 100}, name="bw")
    with pytest.raises(LinkError, match="already exists"):
        ctl.add_toxic([a, b], "bandwidth", {"rate": 100}, name="bw")
    assert "bw" not in [t["name"] for t in ctl.state()[b]["toxics"]]
    with pytest.raises(LinkError):
        ctl.add_toxic([b, "ghost"], "bandwidth", {"rate": 100}, name="bw2")
    with pytest.raises(LinkError, match="invalid toxic type"):  # the server's 400 is reported
        ctl.add_toxic([b, a], "no_such_toxic", {}, name="bad")
    assert "bad" not in [t["name"] for t in ctl.state()[b]["toxics"]]
    ctl.add_toxic([b], "slicer", {"average_size": 4}, stream="upstream", name="sl")
    assert rtt_ms(ctl, b) >= 39
    ctl.remove_toxic([a], "bw")
    ctl.remove_toxic([b], "sl")
    with pytest.raises(LinkError, match="not found"):
        ctl.remove_toxic([a], "bw")
    ctl.remove_toxic([a, "ghost"], "bw", missing_ok=True)
    assert [t["name"] for t in ctl.state()[a]["toxics"]] == [
        "latency_upstream",
        "latency_downstream",
    ]


def test_failed_heal_rolls_back(ctl, world):
    """Two refused links; one cannot re-listen (its port is taken) -> nothing healed."""
    names = [link_name("a", "b1", "tcp"), link_name("a", "c1", "tcp")]
    ctl.cut(names, mode="refuse")
    port = addr_of(ctl, names[1])[1]
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        with pytest.raises(LinkError, match="(?i)address already in use"):
            ctl.heal(names)
        st = ctl.state()
        for n in names:  # both still cut: the first heal was undone
            assert st[n]["cut"] == "both" and not st[n]["enabled"]
            assert REFUSE_MARKER in [t["name"] for t in st[n]["toxics"]]
    finally:
        squatter.close()
    ctl.heal(names)
    assert all(ctl.state()[n]["cut"] is None for n in names)


def test_ten_link_cut_is_fast(world, backend, request):
    url, use_batch = world[0], backend[1]
    batched = False
    with EchoServer() as echo:
        nodes = {f"n{i}": ("b", echo.address) for i in range(10)}
        nodes["x"] = ("a", echo.address)
        plan = make_plan(nodes)
        with LinkControl(url, use_batch=use_batch) as c:
            c.build(plan)
            names = [s.name for s in plan.links.values() if s.dest_region == "b"]
            assert len(names) == 10
            cuts, heals = [], []
            # Best of 3: one scheduling hiccup on a loaded machine is not the code.
            for _ in range(3):
                t = time.perf_counter()
                c.cut(names)
                cuts.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                c.heal(names)
                heals.append((time.perf_counter() - t) * 1000)
            batched = c._detect()  # what this controller really used
    cut_ms, heal_ms = min(cuts), min(heals)
    print(f"10-link cut [{request.node.callspec.id}]: cut {cut_ms:.1f} ms, heal {heal_ms:.1f} ms")
    # The target (well under 100 ms) holds for the batch path the harness uses
    # with its own server (~5 ms here); plain Toxiproxy requests (20 of them) get a
    # looser bound. benchmarks/bench_links.py prints both against one API call.
    bound = 100 if batched else 500
    assert cut_ms < bound and heal_ms < bound, (cuts, heals)


def test_concurrent_callers_do_not_interleave(ctl, world):
    _, plan = world
    names = cut_region_names(plan, "b")
    errors = []

    def flap() -> None:
        try:
            for _ in range(5):
                ctl.cut(names)
                ctl.heal(names)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=flap) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert all(s["cut"] is None for s in ctl.state().values())


def test_reset_and_unreachable_server(ctl):
    ctl.reset()
    assert all(s["toxics"] == [] and s["enabled"] for s in ctl.state().values())
    dead = LinkControl("http://127.0.0.1:9", timeout_s=0.5)
    with pytest.raises(LinkError, match="not ready"):
        dead.wait_ready(0.3)
    with pytest.raises(ValueError, match="direction"):
        ctl.cut([], direction="sideways")
    with pytest.raises(ValueError, match="mode"):
        ctl.cut([], mode="gentle")
