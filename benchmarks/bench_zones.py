"""Cost of zone and node failure domains (run by hand: .venv/bin/python benchmarks/bench_zones.py).

10 regions x 3 zones, 50 geokv nodes (quorum), local backend. Every node reaches
every peer through its own link, so links grow with nodes^2. Prints, against
baselines measured in the same run:
- link count, against the region-level plan (one link per region and node in
  another region, what the docker backend still builds);
- planning time and cluster up (backend, links build, nodes start, ready);
- the latency a link adds: GET /health through a same-zone node link (0 ms
  configured) against the node directly, median and p99 of 200 requests;
- a cut-zone apply and heal on this topology.
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
import time
from pathlib import Path

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Endpoint
from chaoskit.topology.plan import build_topology, local_plan

LOCATIONS = [
    "beijing", "shanghai", "shenzhen", "xian", "chengdu",
    "us-east", "eu-west", "ap-northeast", "ap-southeast", "sa-east",
]  # fmt: skip


def topology(nodes: int = 50, regions: int = 10, zones: int = 3):  # type: ignore[no-untyped-def]
    counts = [nodes // (regions * zones)] * (regions * zones)
    for i in range(nodes % (regions * zones)):
        counts[i] += 1
    return build_topology(
        {
            loc: {
                "location": loc,
                "zones": {f"{loc}-z{j}": counts[i * zones + j] for j in range(zones)},
            }
            for i, loc in enumerate(LOCATIONS[:regions])
        }
    )


def timed_get(ep: Endpoint, n: int) -> list[float]:
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=5)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            conn.request("GET", "/health")
            conn.getresponse().read()
            out.append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def main() -> None:
    topo = topology()
    t = time.monotonic()
    plan = local_plan(topo, ("http",))
    plan_s = time.monotonic() - t
    region_level = sum(1 for r in topo.region_names for n in topo.nodes if n.region != r)
    print(f"== 10 regions x 3 zones, {len(topo.nodes)} nodes")
    print(
        f"links: {len(plan.links)} ({len(plan.node_links)} node links + "
        f"{len(plan.links) - len(plan.node_links)} client links) vs {region_level} region-level "
        f"= {len(plan.links) / region_level:.1f}x; plan {plan_s:.2f} s"
    )
    with tempfile.TemporaryDirectory() as d:
        c = Cluster(
            topo, GeoKVAdapter({"mode": "quorum"}), LocalBackend(Path(d)), ready_timeout_s=180
        )
        t = time.monotonic()
        try:
            c.up()
            up = time.monotonic() - t
            phases = " ".join(f"{k.removesuffix('_s')}={v:.2f}" for k, v in c.timings.items())
            print(f"up {up:.2f} s: {phases}")
            a = topo.nodes[0]
            b = next(n for n in topo.nodes if n.zone == a.zone and n != a)
            direct = timed_get(c.plan.node_bind[b.name]["http"], 200)
            linked = timed_get(c.plan.inside[a.name][b.name]["http"], 200)
            md, ml = statistics.median(direct), statistics.median(linked)
            print(
                f"GET /health {a.name} -> {b.name} (same zone, 0 ms configured): direct median "
                f"{md:.3f} ms p99 {pct(direct, 0.99):.3f} ms; through the node link median "
                f"{ml:.3f} ms p99 {pct(linked, 0.99):.3f} ms: +{ml - md:.3f} ms ({ml / md:.1f}x)"
            )
            t = time.monotonic()
            h = c.apply_fault("cut-zone", {"zone": a.zone})
            cut = time.monotonic() - t
            t = time.monotonic()
            c.heal(h)
            heal = time.monotonic() - t
            print(
                f"cut-zone {a.zone}: {len(h.targets['links'])} links cut in {cut:.3f} s, healed in {heal:.3f} s"
            )
        finally:
            t = time.monotonic()
            c.down()
            print(f"down {time.monotonic() - t:.2f} s")


if __name__ == "__main__":
    main()
