"""Every toxic's observable effect, over real sockets: client -> proxy -> echo server.

Timing bounds are generous on the slow side (a loaded 2-core machine) but tight on
the side that proves the toxic acted (a delay cannot be shorter than asked).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import time

import pytest
import requests
from conftest import need

from chaoskit.links.process import LinkServerProcess
from chaoskit.links.server import LinkServer
from chaoskit.testing.links import EchoServer, TcpServer

DEBIAN_PYTHON = "/usr/bin/python3"


def debian_python_has_aiohttp() -> bool:
    try:
        r = subprocess.run([DEBIAN_PYTHON, "-c", "import aiohttp"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.fixture(scope="module")
def bookworm_server(tmp_path_factory):
    need(
        "Debian's python3 with python3-aiohttp",
        debian_python_has_aiohttp(),
        "apt-get install python3-aiohttp",
    )
    log = tmp_path_factory.mktemp("links") / "links.log"
    with LinkServerProcess(python=DEBIAN_PYTHON, log_path=log) as s:
        yield s


@pytest.fixture(params=["in-process", "bookworm-python"])
def srv(request):
    """The server in-process (venv), and as a process under Debian's python3 +
    python3-aiohttp 3.8 -- what the bookworm link container runs (one process per
    module, emptied after each test)."""
    if request.param == "in-process":
        with LinkServer() as s:
            yield s
        return
    s = request.getfixturevalue("bookworm_server")
    yield s
    for name in requests.get(s.url + "/proxies", timeout=5).json():
        requests.delete(f"{s.url}/proxies/{name}", timeout=5)


@pytest.fixture
def echo():
    with EchoServer() as e:
        yield e


class Link:
    def __init__(self, srv: LinkServer, upstream: str, name: str = "p") -> None:
        self.srv, self.name = srv, name
        r = requests.post(
            srv.url + "/proxies",
            json={"name": name, "upstream": upstream, "listen": "127.0.0.1:0"},
            timeout=5,
        )
        assert r.status_code == 201, r.text
        host, port = r.json()["listen"].rsplit(":", 1)
        self.addr = (host, int(port))

    def toxic(
        self,
        type_: str,
        stream: str = "downstream",
        name: str | None = None,
        toxicity: float = 1.0,
        **attrs: int,
    ) -> str:
        body = {"type": type_, "stream": stream, "toxicity": toxicity, "attributes": attrs}
        if name:
            body["name"] = name
        r = requests.post(f"{self.srv.url}/proxies/{self.name}/toxics", json=body, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()["name"]

    def update(self, toxic: str, **attrs: int) -> None:
        r = requests.patch(
            f"{self.srv.url}/proxies/{self.name}/toxics/{toxic}",
            json={"attributes": attrs},
            timeout=5,
        )
        assert r.status_code == 200, r.text

    def remove(self, toxic: str) -> None:
        r = requests.delete(f"{self.srv.url}/proxies/{self.name}/toxics/{toxic}", timeout=5)
        assert r.status_code == 204, r.text

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(self.addr, timeout=timeout)


def rtt_ms(c: socket.socket, payload: bytes = b"x") -> float:
    t = time.perf_counter()
    c.sendall(payload)
    got = b""
    while len(got) < len(payload):
        d = c.recv(65536)
        assert d, "connection closed"
        got += d
    return (time.perf_counter() - t) * 1000


def best_rtt_ms(c: socket.socket, n: int = 3) -> float:
    """Best of n: a toxic delays every round trip, a loaded machine's stall only one."""
    return min(rtt_ms(c) for _ in range(n))


def recv_all(c: socket.socket) -> bytes:
    out = b""
    while True:
        d = c.recv(65536)
        if not d:
            return out
        out += d


def test_latency_each_way_gives_rtt_2l(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("latency", "upstream", latency=40)
    link.toxic("latency", "downstream", latency=40)
    with link.connect() as c:
        samples = [rtt_ms(c) for _ in range(6)]
    med = statistics.median(samples)
    print(f"RTT with 40 ms each way: median {med:.1f} ms, samples {[round(s, 1) for s in samples]}")
    assert min(samples) >= 79.0
    assert med < 80 + 25


def test_toxic_changes_reach_open_connections_without_dropping_them(srv, echo):
    link = Link(srv, echo.address)
    with link.connect() as c:
        assert best_rtt_ms(c) < 40
        t = link.toxic("latency", "downstream", latency=60)
        assert best_rtt_ms(c) >= 59
        link.update(t, latency=10)
        assert 9 <= best_rtt_ms(c) < 50
        link.remove(t)
        assert best_rtt_ms(c) < 40  # same connection, still open


def test_removing_latency_releases_held_data_at_once(srv, echo):
    link = Link(srv, echo.address)
    t = link.toxic("latency", "downstream", latency=3000)
    with link.connect() as c:
        c.sendall(b"held")
        time.sleep(0.2)
        start = time.perf_counter()
        link.remove(t)
        assert c.recv(10) == b"held"
        assert time.perf_counter() - start < 1.0


def test_stacked_toxics_compose_and_toxicity_zero_is_inert(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("latency", "downstream", name="a", latency=25)
    link.toxic("latency", "downstream", name="b", latency=25)
    link.toxic("latency", "upstream", name="never", toxicity=0.0, latency=1000)
    with link.connect() as c:
        samples = [rtt_ms(c) for _ in range(3)]
    assert min(samples) >= 49
    assert max(samples) < 500  # the toxicity-0 toxic never applied


def test_jitter_stays_within_bounds_and_varies(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("latency", "downstream", latency=30, jitter=15)
    with link.connect() as c:
        samples = [rtt_ms(c) for _ in range(12)]
    assert min(samples) >= 14
    assert max(samples) < 45 + 40
    assert max(samples) - min(samples) > 3


def test_bandwidth_limits_rate(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("bandwidth", "downstream", rate=200)  # 200 KB/s
    payload = b"b" * 100_000
    with link.connect() as c:
        start = time.perf_counter()
        c.sendall(payload)
        got = 0
        while got < len(payload):
            got += len(c.recv(65536))
        took = time.perf_counter() - start
    rate = len(payload) / took / 1000
    print(f"bandwidth 200 KB/s: measured {rate:.0f} KB/s over {took:.2f} s")
    assert took >= 0.45  # 100 KB at 200 KB/s = 0.5 s
    assert took < 1.5


def test_limit_data_cuts_at_the_byte(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("limit_data", "downstream", bytes=1234)
    with link.connect() as c:
        c.sendall(b"L" * 5000)
        got = recv_all(c)
    assert got == b"L" * 1234


def test_reset_peer_resets(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("reset_peer", "upstream", timeout=0)
    with link.connect() as c:
        c.sendall(b"boom")
        with pytest.raises(ConnectionResetError):
            c.recv(10)
            c.recv(10)


def test_reset_peer_waits_its_timeout(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("reset_peer", "upstream", timeout=300)
    with link.connect() as c:
        start = time.perf_counter()
        c.sendall(b"boom")
        with pytest.raises(ConnectionResetError):
            c.recv(10)
        assert time.perf_counter() - start >= 0.28


def test_timeout_holds_then_closes(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("timeout", "upstream", timeout=300)
    with link.connect() as c:
        start = time.perf_counter()
        c.sendall(b"swallowed")
        try:
            got = c.recv(10)
        except ConnectionResetError:
            got = b""
        took = time.perf_counter() - start
    assert got == b""  # nothing came through, then the connection closed
    assert 0.25 <= took < 2.0


def test_timeout_zero_is_a_blackhole_until_removed(srv, echo):
    link = Link(srv, echo.address)
    t = link.toxic("timeout", "upstream", timeout=0)
    with link.connect(timeout=0.6) as c:
        c.sendall(b"lost")
        with pytest.raises(TimeoutError):
            c.recv(10)  # held open, nothing arrives
        c.settimeout(5)
        link.remove(t)  # Toxiproxy closes the connections a removed timeout toxic held
        assert recv_all(c) == b""
    with link.connect() as c:  # new connections work again
        assert rtt_ms(c) < 200


def test_slicer_splits_writes(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("slicer", "downstream", average_size=10, size_variation=0, delay=20000)
    payload = bytes(range(100))
    with link.connect() as c:
        start = time.perf_counter()
        c.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(c.recv(65536))
        took = time.perf_counter() - start
    assert b"".join(pieces) == payload
    assert len(pieces) >= 3 and max(map(len, pieces)) < len(payload)
    assert took >= 0.18  # 10 pieces, 20 ms apart


def test_slow_close_delays_the_close(srv):
    def hello_and_close(sock: socket.socket) -> None:
        sock.sendall(b"bye")
        sock.close()

    with TcpServer(hello_and_close) as up:
        link = Link(srv, up.address)
        link.toxic("slow_close", "downstream", delay=400)
        with link.connect() as c:
            start = time.perf_counter()
            assert c.recv(10) == b"bye"
            first = time.perf_counter() - start
            assert c.recv(10) == b""
            closed = time.perf_counter() - start
    assert first < 0.3
    assert closed >= 0.39


def test_half_close_passes_through(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("latency", "downstream", latency=20)
    with link.connect() as c:
        c.sendall(b"half")
        c.shutdown(socket.SHUT_WR)
        assert recv_all(c) == b"half"


def test_unreachable_upstream_closes_the_client(srv):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    link = Link(srv, f"127.0.0.1:{port}")
    with link.connect() as c:
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass


def test_many_connections_and_bulk_data_survive(srv, echo):
    link = Link(srv, echo.address)
    conns = [link.connect() for _ in range(50)]
    try:
        for i, c in enumerate(conns):
            c.sendall(b"%03d" % i)
        for i, c in enumerate(conns):
            assert c.recv(3) == b"%03d" % i
        big = bytes(range(256)) * 4096  # 1 MiB, checked byte for byte
        c = conns[0]
        c.sendall(big[:4])
        assert c.recv(4) == big[:4]
        import threading

        th = threading.Thread(target=c.sendall, args=(big,))
        th.start()
        got = bytearray()
        while len(got) < len(big):
            got += c.recv(1 << 20)
        th.join()
        assert bytes(got) == big
    finally:
        for c in conns:
            c.close()


def test_stacked_delays_add_up_and_pipeline(srv, echo):
    """bandwidth then latency: the latency adds once on top (not once per 100 ms
    slice, and not hidden inside the bandwidth delay as in Toxiproxy 2.8)."""
    link = Link(srv, echo.address)
    link.toxic("bandwidth", "downstream", rate=100)  # 50 KB -> 0.5 s
    link.toxic("latency", "downstream", latency=150)
    payload = b"p" * 50_000
    with link.connect() as c:
        start = time.perf_counter()
        c.sendall(payload)
        got = 0
        while got < len(payload):
            got += len(c.recv(65536))
        took = time.perf_counter() - start
    print(f"50 KB at 100 KB/s + 150 ms latency: {took:.2f} s (serialised would be >= 1.2 s)")
    assert 0.6 <= took < 1.1


def test_stream_stays_intact_while_toxics_come_and_go(srv, echo):
    """Bytes keep flowing in order, none lost or duplicated, while toxics change live."""
    import threading

    link = Link(srv, echo.address)
    payload = b"".join(b"%08d" % i for i in range(60_000))  # 480 KB of sequence numbers
    with link.connect(timeout=10) as c:
        got = bytearray()

        def reader() -> None:
            while len(got) < len(payload):
                d = c.recv(65536)
                if not d:
                    return
                got.extend(d)

        th = threading.Thread(target=reader)
        th.start()
        sender = threading.Thread(
            target=lambda: [
                c.sendall(payload[i : i + 4096]) or time.sleep(0.0005)
                for i in range(0, len(payload), 4096)
            ]
        )
        sender.start()
        for i in range(6):
            a = link.toxic("latency", "downstream", name=f"l{i}", latency=5 + i, jitter=3)
            b = link.toxic("slicer", "upstream", name=f"s{i}", average_size=700, size_variation=200)
            time.sleep(0.03)
            link.remove(a)
            link.toxic("bandwidth", "upstream", name=f"b{i}", rate=2000)
            time.sleep(0.03)
            link.remove(b)
            link.remove(f"b{i}")
        sender.join(20)
        th.join(20)
    assert bytes(got) == payload


def test_an_ending_toxic_lets_earlier_data_through_later_toxics(srv, echo):
    """limit_data before a latency toxic: the allowed bytes still arrive (after the
    latency), and only then does the connection close -- Toxiproxy's channel close."""
    link = Link(srv, echo.address)
    link.toxic("limit_data", "downstream", name="lim", bytes=300)
    link.toxic("latency", "downstream", name="lat", latency=200)
    with link.connect() as c:
        start = time.perf_counter()
        c.sendall(b"D" * 1000)
        got = recv_all(c)
        took = time.perf_counter() - start
    assert got == b"D" * 300
    assert took >= 0.19


def test_toxicity_decides_per_connection(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("latency", "downstream", toxicity=0.5, latency=300)
    conns = [link.connect() for _ in range(40)]
    try:
        import select

        for c in conns:
            c.sendall(b"t")
        time.sleep(0.15)  # fast connections have answered by now, slow ones not yet
        ready, _, _ = select.select(conns, [], [], 0)
        slow = len(conns) - len(ready)
        for c in conns:
            assert c.recv(1) == b"t"
        # each connection is either always slow or always fast
        c = conns[0]
        first = rtt_ms(c) >= 290
        assert all((rtt_ms(c) >= 290) == first for _ in range(2))
    finally:
        for c in conns:
            c.close()
    assert 4 <= slow <= 36, slow  # ~20 expected; P(outside) < 1e-5


def test_closed_connections_leave_nothing_behind(srv, echo):
    link = Link(srv, echo.address)
    link.toxic("latency", "upstream", latency=5)
    for _ in range(20):
        with link.connect() as c:
            assert rtt_ms(c) >= 4
    deadline = time.monotonic() + 5
    while True:
        text = requests.get(srv.url + "/metrics", timeout=5).text
        line = next(
            x for x in text.splitlines() if x.startswith('chaoskit_links_connections{proxy="p"}')
        )
        if line.endswith(" 0") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert line.endswith(" 0"), line


def test_server_speaks_first(srv):
    """A greeting sent by the upstream before the proxy finished connecting is kept."""

    def greet(sock: socket.socket) -> None:
        sock.sendall(b"220 hello\r\n")
        while sock.recv(1024):
            pass

    with TcpServer(greet) as up:
        link = Link(srv, up.address)
        conns = [link.connect() for _ in range(20)]
        try:
            for c in conns:
                got = b""
                while not got.endswith(b"\r\n"):
                    d = c.recv(64)
                    assert d, "closed before the greeting"
                    got += d
                assert got == b"220 hello\r\n"
        finally:
            for c in conns:
                c.close()


def test_slice_points_cover_the_chunk_in_non_empty_pieces():
    import random

    from chaoskit.links.toxics.slicer import slice_points

    rng = random.Random(7)
    cases = [(0, 1, 0), (1, 1, 0), (100, 10, 0), (100, 1, 400), (5, 300, 0)]
    cases += [
        (rng.randrange(0, 3000), rng.randrange(1, 300), rng.randrange(0, 400)) for _ in range(300)
    ]
    for length, average, variation in cases:
        cuts = slice_points(length, average, variation)
        assert cuts[0] == 0 and cuts[-1] == length, (length, average, variation)
        sizes = [b - a for a, b in zip(cuts, cuts[1:], strict=False)]
        assert length == 0 or all(x > 0 for x in sizes)
        if variation < average and length > average + variation:
            assert max(sizes) <= average + variation
    # 100 bytes, average 10: halving gives 16 pieces of 6-7 bytes, as Toxiproxy's rule does
    assert len(slice_points(100, 10, 0)) - 1 == 16
