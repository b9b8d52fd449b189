"""geokv throughput on loopback (run by hand: .venv/bin/python benchmarks/bench_geokv.py).

Measures, with N client threads each holding one keep-alive connection:
  baseline   a bare stdlib ThreadingHTTPServer answering a fixed JSON body (the
             ceiling of the HTTP stack geokv is built on), measured in the same run;
  local      reads and writes on one `lww` node (served locally, no replication);
  quorum     writes on a 3-node `quorum` cluster (CASPaxos, 2 round trips to a majority).
Prints ops/s and the ratio to the baseline; the target is >= 2,000 local reads/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chaoskit.testing.geokv import GeoKVCluster

ERRORS: list[str] = []


class _Fixed(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # as geokv's server: one segment per response (no Nagle stall)
    body = json.dumps({"ok": True, "value": 1}).encode()

    def log_message(self, *a: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def measure(threads: int, duration: float, op: Callable[[int], Callable[[int], bool]]) -> float:
    """ops/s: each thread gets its own op function (its own connection)."""
    stop = time.monotonic() + duration
    counts = [0] * threads
    errors = [0] * threads

    def run(i: int) -> None:
        f = op(i)
        n = 0
        while time.monotonic() < stop:
            if f(n):
                counts[i] += 1
            else:
                errors[i] += 1
            n += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if sum(errors):
        first = f", e.g. {ERRORS[0]}" if ERRORS else ""
        print(f"    ({sum(errors)} operations did not succeed{first})")
        ERRORS.clear()
    return sum(counts) / (time.monotonic() - t0)


def baseline(threads: int, duration: float) -> float:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    port = srv.server_address[1]
    try:

        def op(i: int) -> Callable[[int], bool]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            payload = json.dumps({"f": "read", "key": "k", "value": None})

            def f(n: int) -> bool:
                conn.request("POST", "/op", payload, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                return r.status == 200

            return f

        return measure(threads, duration, op)
    finally:
        srv.shutdown()
        srv.server_close()


def geokv_ops(
    cluster: GeoKVCluster, f_name: str, keys: int = 16
) -> Callable[[int], Callable[[int], bool]]:
    def op(i: int) -> Callable[[int], bool]:
        node = cluster.nodes[i % len(cluster.nodes)]
        client = cluster.node_client(node, timeout_s=10)

        def f(n: int) -> bool:
            key = f"k{(i * 7 + n) % keys}"
            out = client.invoke(f_name, key, n if f_name == "write" else None)
            if out.type != "ok":
                ERRORS.append(f"{out.type}: {out.error}")
            return out.type == "ok"

        return f

    return op


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--duration", type=float, default=3.0)
    a = ap.parse_args()
    print(
        f"geokv benchmark: {a.threads} client threads, {a.duration:.0f} s per measurement, loopback\n"
    )
    base = baseline(a.threads, a.duration)
    print(f"  baseline (bare stdlib HTTP server)   {base:8.0f} ops/s   1.00x")
    rows: dict[str, float] = {}

    def row(name: str, v: float) -> None:
        rows[name] = v
        print(f"  {name:36s} {v:8.0f} ops/s   {v / base:.2f}x", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-geokv-") as tmp:
        with _cluster(tmp, "one", {"r1": 1}, "lww") as one:
            for f_name in ("write", "read"):
                row(
                    f"local {f_name}s (one lww node)",
                    measure(a.threads, a.duration, geokv_ops(one, f_name)),
                )
        with _cluster(tmp, "three", {"r1": 1, "r2": 1, "r3": 1}, "quorum") as three:
            for f_name in ("write", "read"):
                v = measure(a.threads, a.duration, geokv_ops(three, f_name, keys=64))
                row(f"quorum {f_name}s (3 nodes, CASPaxos)", v)
    reads = rows["local reads (one lww node)"]
    verdict = "meets" if reads >= 2000 else "MISSES"
    print(f"\n  local reads {verdict} the 2,000 ops/s target ({reads:.0f} ops/s)")


def _cluster(tmp: str, name: str, regions: dict[str, int], mode: str) -> GeoKVCluster:
    d = Path(tmp) / name
    d.mkdir()
    return GeoKVCluster(regions, d, {"mode": mode})


if __name__ == "__main__":
    main()
