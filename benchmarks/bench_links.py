"""Benchmark of chaoskit's link server (run by hand; prints numbers and ratios).

    .venv/bin/python benchmarks/bench_links.py [--quick] [--python /usr/bin/python3]

Every number is measured against a baseline taken in the same run on the same
machine: a direct loopback connection to the same echo/sink server. The link
server and the echo server run as separate processes (as in a real run).

1. added latency of a proxy without toxics: p50/p99 RTT through the proxy minus
   direct (target: < 0.3 ms added at p50)
2. bulk throughput through one proxy / direct loopback (target: >= 0.3)
3. concurrent connections one server holds, all still answering (target: 2,000)
4. accuracy of a 30 ms latency toxic under 500 requests/s
5. a region cut of 10 links (and its heal) through LinkControl, via the batch
   extension and via plain Toxiproxy requests (target: well under 100 ms); the
   baseline is one GET /version round trip to the same server
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from chaoskit.links.control import LinkControl  # noqa: E402
from chaoskit.links.process import LinkServerProcess  # noqa: E402
from chaoskit.topology.model import (  # noqa: E402
    AddressPlan,
    Endpoint,
    Latency,
    LinkSpec,
    link_name,
)

# -- the echo / sink server (a child process: `bench_links.py --serve`) ----------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        self.t = transport
        self.n = 0
        self.sink = False

    def data_received(self, data: bytes) -> None:
        if not self.sink and self.n == 0 and data.startswith(b"SINK"):
            self.sink = True
        if self.sink:
            self.n += len(data)
        else:
            self.t.write(data)

    def eof_received(self) -> bool:
        if self.sink:
            self.t.write(b"%d\n" % self.n)
        self.t.close()
        return True


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


def start_echo() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    port = int(proc.stdout.readline())  # type: ignore[union-attr]
    return proc, port


# -- measurements ----------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def pingpong(port: int, n: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        msg = b"x" * 64
        for _ in range(n):
            t = time.perf_counter_ns()
            c.sendall(msg)
            got = 0
            while got < len(msg):
                got += len(c.recv(4096))
            out.append((time.perf_counter_ns() - t) / 1e6)
        return out


def bulk(port: int, nbytes: int) -> float:
    """Seconds to push nbytes to the sink and get its count back."""
    chunk = b"\0" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port)) as c:
        t = time.perf_counter()
        c.sendall(b"SINK")
        sent = 4
        while sent < nbytes:
            c.sendall(chunk)
            sent += len(chunk)
        c.shutdown(socket.SHUT_WR)
        reply = b""
        while not reply.endswith(b"\n"):
            d = c.recv(64)
            if not d:
                break
            reply += d
        took = time.perf_counter() - t
    assert int(reply) == sent, (reply, sent)
    return took


async def hold_many(port: int, n: int) -> tuple[int, float]:
    """Open n connections, ping each, keep all open, ping each again."""
    conns = []
    t = time.perf_counter()
    for i in range(0, n, 200):
        batch = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(min(200, n - i))),
            return_exceptions=True,
        )
        conns += [c for c in batch if not isinstance(c, BaseException)]
    ok = 0

    async def ping(rw):  # type: ignore[no-untyped-def]
        r, w = rw
        w.write(b"ping")
        await w.drain()
        return await asyncio.wait_for(r.readexactly(4), 10) == b"ping"

    for _ in range(2):
        results = await asyncio.gather(*(ping(c) for c in conns), return_exceptions=True)
        ok = sum(1 for x in results if x is True)
    took = time.perf_counter() - t
    for _, w in conns:
        w.close()
    return ok, took


async def paced_load(port: int, rate: float, seconds: float, conns: int) -> list[float]:
    """`rate` requests/s spread over `conns` connections; returns RTTs in ms."""
    pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(conns)]
    rtts: list[float] = []
    per_conn = rate / conns
    loop = asyncio.get_running_loop()

    async def user(r, w, offset):  # type: ignore[no-untyped-def]
        start = loop.time() + offset
        k = 0
        while True:
            due = start + k / per_conn
            if due > start + seconds:
                return
            await asyncio.sleep(max(0.0, due - loop.time()))
            t = time.perf_counter_ns()
            w.write(b"q" * 32)
            await r.readexactly(32)
            rtts.append((time.perf_counter_ns() - t) / 1e6)
            k += 1

    await asyncio.gather(*(user(r, w, i / rate) for i, (r, w) in enumerate(pairs)))
    for _, w in pairs:
        w.close()
    return rtts


def ten_link_plan(echo_port: int) -> AddressPlan:
    """Region "far" holds 10 nodes (all the echo server); region "near" reaches each
    through one link, so cutting "far" touches exactly 10 links."""
    links = {}
    for i in range(10):
        node = f"far-{i}"
        links[("near", node, "tcp")] = LinkSpec(
            name=link_name("near", node, "tcp"),
            source_region="near",
            dest_node=node,
            dest_region="far",
            port="tcp",
            listen=Endpoint("127.0.0.1", 0),
            upstream=Endpoint("127.0.0.1", echo_port),
            latency=Latency(20.0, 1.0),
        )
    bind = {f"far-{i}": {"tcp": Endpoint("127.0.0.1", echo_port)} for i in range(10)}
    return AddressPlan(ports=("tcp",), node_bind=bind, links=links, inside={}, outside={})  # type: ignore[arg-type]


def cut_heal_times(
    url: str, plan: AddressPlan, use_batch: bool, rounds: int
) -> tuple[list[float], list[float]]:
    names = sorted(s.name for s in plan.links.values())
    cuts, heals = [], []
    with LinkControl(url, use_batch=use_batch) as ctl:
        ctl.build(plan)
        for _ in range(rounds):
            t = time.perf_counter()
            ctl.cut(names)
            cuts.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            ctl.heal(names)
            heals.append((time.perf_counter() - t) * 1000)
        for n in names:
            requests.delete(f"{url}/proxies/{n}", timeout=5)
    return cuts, heals


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the link server")
    ap.add_argument("--connections", type=int, default=2000)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.connections + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # children inherit it

    n_ping = 1000 if args.quick else 5000
    n_bulk = (64 if args.quick else 256) << 20
    echo, eport = start_echo()
    srv = LinkServerProcess(python=args.python, log_level="WARNING").start()
    try:
        r = requests.post(
            srv.url + "/proxies",
            json={"name": "b", "upstream": f"127.0.0.1:{eport}", "listen": "127.0.0.1:0"},
            timeout=5,
        )
        pport = int(r.json()["listen"].rsplit(":", 1)[1])
        print(
            f"link server: {args.python} (pid {srv.pid}), echo pid {echo.pid}, RLIMIT_NOFILE {want}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )

        # 1. added latency
        pingpong(eport, 200)
        pingpong(pport, 200)  # warm-up
        direct = pingpong(eport, n_ping)
        proxied = pingpong(pport, n_ping)
        d50, d99, p50, p99 = pct(direct, 50), pct(direct, 99), pct(proxied, 50), pct(proxied, 99)
        print(f"\n1. request/response RTT, 64 B, one connection, {n_ping} round trips")
        print(f"   direct   p50 {d50:.3f} ms  p99 {d99:.3f} ms")
        print(f"   proxied  p50 {p50:.3f} ms  p99 {p99:.3f} ms")
        print(f"   added    p50 {p50 - d50:.3f} ms  p99 {p99 - d99:.3f} ms   (target p50 < 0.3 ms)")

        # 2. throughput
        bulk(eport, 16 << 20)
        bulk(pport, 16 << 20)
        # Interleaved pairs, median ratio: the machine's load shifts between runs.
        pairs = [(bulk(eport, n_bulk), bulk(pport, n_bulk)) for _ in range(5)]
        ratios = [td / tp for td, tp in pairs]
        mbd = statistics.median(n_bulk / td / 1e6 for td, _ in pairs)
        mbp = statistics.median(n_bulk / tp / 1e6 for _, tp in pairs)
        print(f"\n2. bulk throughput, {n_bulk >> 20} MiB one way, 5 interleaved pairs")
        print(
            f"   direct {mbd:.0f} MB/s, proxied {mbp:.0f} MB/s (medians); ratio median "
            f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})   (target >= 0.3)"
        )

        # 3. concurrent connections
        before = rss_mb(srv.pid)  # type: ignore[arg-type]
        ok, took = asyncio.run(hold_many(pport, args.connections))
        print(
            f"\n3. concurrent connections through one proxy: {ok}/{args.connections} open and answering twice "
            f"({took:.1f} s), link server RSS {before:.0f} -> {rss_mb(srv.pid):.0f} MB   (target 2,000)"
        )  # type: ignore[arg-type]
        time.sleep(0.5)

        # 4. latency toxic accuracy under load
        seconds = 3.0 if args.quick else 6.0
        base = asyncio.run(paced_load(eport, 500, seconds, 50))
        requests.post(
            srv.url + "/proxies/b/toxics",
            json={"type": "latency", "attributes": {"latency": 30}},
            timeout=5,
        )
        lat = asyncio.run(paced_load(pport, 500, seconds, 50))
        b50 = pct(base, 50)
        err = [x - 30 - b50 for x in lat]
        print(
            f"\n4. 30 ms latency toxic under 500 req/s (50 connections, {seconds:.0f} s, {len(lat)} requests)"
        )
        print(
            f"   direct baseline p50 {b50:.3f} ms p99 {pct(base, 99):.3f} ms; with toxic p50 {pct(lat, 50):.2f} ms p99 {pct(lat, 99):.2f} ms "
            f"max {max(lat):.2f} ms min {min(lat):.2f} ms"
        )
        print(
            f"   error vs 30 ms + baseline: p50 {pct(err, 50):+.2f} ms, p99 {pct(err, 99):+.2f} ms, "
            f"mean {statistics.mean(err):+.2f} ms; never early: {min(lat) >= 30}"
        )

        # 5. region cut of 10 links through the control layer
        rounds = 10 if args.quick else 30
        with requests.Session() as sess:
            one_call = [0.0] * 50
            for i in range(50):
                t = time.perf_counter()
                sess.get(srv.url + "/version", timeout=5)
                one_call[i] = (time.perf_counter() - t) * 1000
        call50 = pct(one_call, 50)
        plan = ten_link_plan(eport)
        print(f"\n5. region cut of 10 links via LinkControl, {rounds} cut+heal rounds each")
        print(f"   baseline: one GET /version p50 {call50:.2f} ms")
        for label, use_batch in (("batch extension", True), ("plain Toxiproxy API", False)):
            cuts, heals = cut_heal_times(srv.url, plan, use_batch, rounds)
            print(
                f"   {label:20s} cut p50 {pct(cuts, 50):6.1f} ms max {max(cuts):6.1f} ms; "
                f"heal p50 {pct(heals, 50):6.1f} ms max {max(heals):6.1f} ms; "
                f"cut p50 = {pct(cuts, 50) / call50:.1f}x one API call   (target < 100 ms)"
            )
    finally:
        srv.stop()
        echo.kill()
        echo.wait()


def quick(smoke: bool = False) -> list:
    """The quick variant for `python -m benchmarks`: RTT and bulk throughput through
    one proxy against direct loopback, interleaved."""
    from benchmarks.table import Row, median

    n_ping, n_bulk, rounds = (100, 4 << 20, 1) if smoke else (1000, 32 << 20, 3)
    echo, eport = start_echo()
    srv = LinkServerProcess(log_level="WARNING").start()
    try:
        r = requests.post(
            srv.url + "/proxies",
            json={"name": "b", "upstream": f"127.0.0.1:{eport}", "listen": "127.0.0.1:0"},
            timeout=5,
        )
        pport = int(r.json()["listen"].rsplit(":", 1)[1])
        pingpong(eport, 50)
        pingpong(pport, 50)  # warm-up
        d50, p50, td, tp = [], [], [], []
        for _ in range(rounds):
            d50.append(pct(pingpong(eport, n_ping), 50))
            p50.append(pct(pingpong(pport, n_ping), 50))
            td.append(bulk(eport, n_bulk))
            tp.append(bulk(pport, n_bulk))
        return [
            Row(
                "links",
                "RTT p50 through a proxy, 64 B",
                median(p50),
                "ms",
                "direct loopback",
                median(d50),
                False,
            ),
            Row(
                "links",
                f"bulk {n_bulk >> 20} MiB through a proxy",
                n_bulk / median(tp) / 1e6,
                "MB/s",
                "direct loopback",
                n_bulk / median(td) / 1e6,
                True,
                0.3,
            ),
        ]
    finally:
        srv.stop()
        echo.kill()
        echo.wait()


if __name__ == "__main__":
    main()
