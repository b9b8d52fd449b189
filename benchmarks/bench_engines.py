"""Regions over 1, 2 and 3 Docker engines on this machine (run by hand, as root:
`.venv/bin/python benchmarks/bench_engines.py [--rounds N] [--requests N]`).

For each engine count: nodes started, time from `up` to a ready 5-member etcd
cluster over 3 regions (us-east, eu-west, ap-northeast; 2 engines = us-east on
the machine's engine and the other two on a second one; 3 = one region per
engine), links and relays built, and the latency crossing engines adds: the
median round trip of a request over a zero-latency link from us-east to
eu-west (a new connection each time, through the link and, across engines,
through the published relay port; with 3 engines between two scratch engines),
against the 1-engine baseline measured in the same run. The extra engines are scratch dockerd started here
(chaoskit/backends/docker/scratch.py) and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from tempfile import mkdtemp

from chaoskit.backends.base import NodeSpec
from chaoskit.backends.docker.engines import EngineRef, MultiEngineBackend
from chaoskit.backends.docker.image import ensure_image
from chaoskit.backends.docker.scratch import ScratchEngine
from chaoskit.cluster import Cluster
from chaoskit.systems.etcd.adapter import EtcdAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology

TOPO = {
    "us-east": {"location": "us-east", "zones": {"use-1a": 1, "use-1b": 1}},
    "eu-west": {"location": "eu-west", "zones": {"euw-1a": 1, "euw-1b": 1}},
    "ap-northeast": {"location": "ap-northeast", "zones": {"apne-1a": 1}},
}
ECHO = (
    "import socket,sys\n"
    "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('0.0.0.0',int(sys.argv[1])));s.listen()\n"
    "while 1:\n c,_=s.accept();c.recv(1);c.sendall(b'k');c.close()"
)
PROBE = (
    "import socket,sys,time,statistics\nr=[]\n"
    "for _ in range(int(sys.argv[3])):\n"
    " t=time.perf_counter();s=socket.create_connection((sys.argv[1],int(sys.argv[2])),5)\n"
    " s.sendall(b'?');s.recv(1);r.append(time.perf_counter()-t);s.close()\n"
    "print(statistics.median(r)*1000)"
)


def spread(k: int, extra: list[ScratchEngine]) -> dict[str, EngineRef]:
    if k == 1:
        return {}
    if k == 2:
        return {"eu-west": EngineRef(extra[0].url), "ap-northeast": EngineRef(extra[0].url)}
    return {"eu-west": EngineRef(extra[0].url), "ap-northeast": EngineRef(extra[1].url)}


def etcd_ready(k: int, extra: list[ScratchEngine]) -> tuple[float, int, int]:
    """(seconds from up to ready, nodes started, links) for a 5-member etcd cluster."""
    topo = build_topology(TOPO)
    be = MultiEngineBackend(mkdtemp(prefix="bench-engines-"), engines=spread(k, extra))
    t = time.monotonic()
    with Cluster(topo, EtcdAdapter({}), be, ready_timeout_s=60) as c:
        ready = time.monotonic() - t
        return ready, len(topo.nodes), len(c.plan.links)


def crossing_ms(k: int, extra: list[ScratchEngine], requests: int) -> float:
    """Median round trip (ms) of a request from us-east-1 over a 0 ms link to eu-west-1."""
    topo = build_topology(
        {"us-east": 1, "eu-west": 1}, latency={("eu-west", "us-east"): Latency(0.0)}
    )
    # 2 engines: the machine's engine -> a scratch one; 3: between the two scratch engines
    engines = {1: {}, 2: {"eu-west": EngineRef(extra[0].url)}}.get(
        k, {"us-east": EngineRef(extra[1].url), "eu-west": EngineRef(extra[0].url)}
    )
    be = MultiEngineBackend(mkdtemp(prefix="bench-engines-"), engines=engines)
    try:
        plan = be.plan(topo, ("echo",))
        links = be.link_control(be.up(topo, plan))
        links.wait_ready(10)
        links.build(plan)
        for n in topo.nodes:
            port = str(be.layout.ports[n.name]["echo"])
            be.start_node(n.name, NodeSpec(argv=["python3", "-c", ECHO, port], env={}))
        port = str(plan.links[("us-east", "eu-west-1", "echo")].listen.port)
        deadline = time.monotonic() + 20
        while True:
            code, out = be.exec("us-east-1", ["python3", "-c", PROBE, "eu-west-1", port, "3"])
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        code, out = be.exec("us-east-1", ["python3", "-c", PROBE, "eu-west-1", port, str(requests)])
        if code != 0:
            raise RuntimeError(out)
        return float(out.strip())
    finally:
        be.down()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2, help="etcd bring-ups per engine count")
    ap.add_argument("--requests", type=int, default=200, help="requests per latency probe")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_engines.py starts dockerd and bridges: run it as root")
    tag = ensure_image(log=lambda m: None).tag
    t = time.monotonic()
    extra = [ScratchEngine().start(), ScratchEngine().start()]
    try:
        started = time.monotonic() - t
        t = time.monotonic()
        for e in extra:
            e.load_image(tag)
        print(
            f"2 scratch engines started in {started:.1f} s; image loaded into both in {time.monotonic() - t:.1f} s"
        )
        base_ready = base_cross = None
        print(
            "engines  nodes  links  up->etcd ready (median)  vs 1 engine   crossing RTT  added vs 1 engine"
        )
        for k in (1, 2, 3):
            runs = [etcd_ready(k, extra) for _ in range(a.rounds)]
            ready = statistics.median(r[0] for r in runs)
            nodes, nlinks = runs[0][1], runs[0][2]
            cross = crossing_ms(k, extra, a.requests)
            base_ready = base_ready or ready
            base_cross = base_cross or cross
            print(
                f"{k:7d}  {nodes:5d}  {nlinks:5d}  {ready:19.2f} s  x{ready / base_ready:10.2f}"
                f"   {cross:9.2f} ms  {cross - base_cross:+8.2f} ms (x{cross / base_cross:.2f})"
            )
    finally:
        for e in extra:
            e.stop()
        for d in Path("/tmp").glob("bench-engines-*"):
            import shutil

            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
