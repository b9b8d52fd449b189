"""Engine benchmarks (run by hand: .venv/bin/python benchmarks/bench_engine.py [--quick]).

Prints, each against a baseline measured in the same run:
1. topology up (backend + links + nodes ready) and down for 5 .. 50 geokv nodes over
   up to 10 regions (~450 links at 50 nodes); setup time per node relative to the
   5-node case shows whether growth is linear (target: 50 nodes / 10 regions).
2. the wall time of `chaoskit run experiments/smoke.yaml` against its load duration.
3. the ops/s the load sustains with history recording (unthrottled, 8 users) while a
   3-node quorum cluster runs on the same cores (target >= 500 ops/s), against a
   baseline measured on the same cluster in the same run: the same number of bare
   client threads (no Locust, no history) -- the ratio is the harness's own cost;
   and the CPU share of the harness (engine + link server + Locust) against the nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.plan import build_topology

ROOT = Path(__file__).resolve().parent.parent
LOCATIONS = [
    "beijing",
    "shanghai",
    "shenzhen",
    "xian",
    "chengdu",
    "us-east",
    "eu-west",
    "ap-northeast",
    "ap-southeast",
    "sa-east",
]
CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, children: bool = True) -> float:
    """CPU seconds of a process (utime + stime), plus its reaped children's if asked."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    own = int(f[11]) + int(f[12])
    return (own + (int(f[13]) + int(f[14]) if children else 0)) / CLK


def topology(nodes: int) -> object:
    regions = min(10, max(1, nodes // 5))
    per = [nodes // regions + (1 if i < nodes % regions else 0) for i in range(regions)]
    return build_topology(
        {
            LOCATIONS[i]: {"location": LOCATIONS[i], "zones": {f"z{i}": per[i]}}
            for i in range(regions)
        }
    )


def bench_up(sizes: list[int]) -> None:
    print("== topology up/down (geokv quorum, local backend)")
    print(
        f"{'nodes':>5} {'regions':>7} {'links':>5} {'up s':>7} {'s/node':>7} {'vs 5-node':>9} {'down s':>7}   phases"
    )
    base_per_node = None
    for n in sizes:
        topo = topology(n)
        with tempfile.TemporaryDirectory() as d:
            c = Cluster(
                topo, GeoKVAdapter({"mode": "quorum"}), LocalBackend(Path(d)), ready_timeout_s=120
            )
            t = time.monotonic()
            try:
                c.up()
                up = time.monotonic() - t
                links = len(c.plan.links)
            finally:
                t = time.monotonic()
                c.down()
                down = time.monotonic() - t
        per = up / n
        base_per_node = base_per_node or per
        phases = " ".join(f"{k.removesuffix('_s')}={v:.2f}" for k, v in c.timings.items())
        print(
            f"{n:>5} {len(topo.regions):>7} {links:>5} {up:>7.2f} {per:>7.3f} {per / base_per_node:>8.2f}x {down:>7.2f}   {phases}"
        )
    print("   (vs 5-node ~1.0x at every size = setup grows linearly with the node count)")


def up_per_node(n: int) -> float:
    """Seconds per node to bring a geokv quorum topology of n nodes up (links, nodes ready)."""
    with tempfile.TemporaryDirectory() as d:
        c = Cluster(
            topology(n),
            GeoKVAdapter({"mode": "quorum"}),
            LocalBackend(Path(d)),
            ready_timeout_s=120,
        )
        t = time.monotonic()
        try:
            c.up()
            return (time.monotonic() - t) / n
        finally:
            c.down()


def quick(smoke: bool = False) -> list:
    """The quick variant for `python -m benchmarks`: setup time per node of a bigger
    topology against a 5-node one (goal: about the same, linear growth)."""
    from benchmarks.table import Row

    small, big = (3, 6) if smoke else (5, 20)
    base = up_per_node(small)
    per = up_per_node(big)
    return [
        Row(
            "topology",
            f"up per node, {big} nodes / {len(topology(big).regions)} regions",
            per * 1000,
            "ms",
            f"{small} nodes",
            base * 1000,
            False,
            1.5,
        )
    ]


def bench_smoke() -> None:
    print("== chaoskit run experiments/smoke.yaml")
    with tempfile.TemporaryDirectory() as d:
        t = time.monotonic()
        p = subprocess.run(
            [
                str(Path(sys.executable).parent / "chaoskit"),
                "run",
                str(ROOT / "experiments/smoke.yaml"),
                "--results",
                d,
                "--quiet",
            ],
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - t
        run_dir = Path(p.stdout.strip().splitlines()[-1])
        ev = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
        load = next(e for e in ev if e["event"] == "load-start")["duration_s"]
        at = {e["event"]: e["time"] / 1e9 for e in ev}
    print(
        f"   exit {p.returncode}, wall {wall:.1f} s for a {load:.0f} s load: "
        f"overhead {wall - load:.1f} s ({wall / load:.2f}x the load)"
    )
    print(
        f"   up to load start {at['load-start']:.1f} s, load {at['load-stop'] - at['load-start']:.1f} s, "
        f"heal + final reads + teardown {at['run-end'] - at['load-stop']:.1f} s, "
        f"checks + report + process start/exit {wall - at['run-end']:.1f} s"
    )


def bare_clients(c: Cluster, users: int, seconds: float) -> int:
    """Baseline: `users` threads calling the system's client in a loop, 50/50
    read/write over 16 keys, no Locust and no history; returns the ok count."""
    stop = time.monotonic() + seconds
    counts = [0] * users

    def loop(i: int) -> None:
        cl = c.client("beijing", 2.0)
        n = 0
        while time.monotonic() < stop:
            n += 1
            key = f"k{n % 16}"
            out = (
                cl.invoke("read", key, None)
                if n % 2
                else cl.invoke("write", key, i * 1_000_000 + n)
            )
            counts[i] += out.type == "ok"

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(users)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts)


def bench_load(seconds: float, mode: str, users: int = 8) -> None:
    from chaoskit.load import LoadPlan, WorkloadSpec, start_load, views_from_plan

    print(
        f"== load throughput, unthrottled, {seconds:.0f} s, {users} users, 3-node geokv {mode} in one region"
    )
    topo = build_topology(
        {"beijing": {"location": "beijing", "zones": {"a": 3}}}, clients={"beijing": users}
    )
    with tempfile.TemporaryDirectory() as d:
        with Cluster(topo, GeoKVAdapter({"mode": mode}), LocalBackend(Path(d))) as c:
            bare = bare_clients(c, users, seconds) / seconds
            node_pids = {n: p for n, p in c.backend.pids().items()}
            me0 = cpu_s(os.getpid(), children=False)
            nodes0 = {n: cpu_s(p) for n, p in node_pids.items()}
            plan = LoadPlan(
                system_kind="geokv",
                system_options={"mode": mode},
                views=views_from_plan(c.plan.outside),
                users={"beijing": users},
                workload=WorkloadSpec(
                    workload="register",
                    keys=16,
                    duration_s=seconds,
                    rate=None,
                    read_ratio=0.5,
                    timeout_s=2.0,
                ),
                t0_ns=time.monotonic_ns(),
                out_dir=Path(d),
            )
            t = time.monotonic()
            run = start_load(plan)
            load_pids = list(run.pids)
            load_cpu = 0.0
            while run.alive():
                load_cpu = max(load_cpu, sum(cpu_s(p) for p in load_pids))
                time.sleep(0.2)
            run.wait(30)
            wall = time.monotonic() - t
            nodes_cpu = sum(cpu_s(p) - nodes0[n] for n, p in node_pids.items() if n != "links")
            links_cpu = cpu_s(node_pids["links"]) - nodes0["links"]
            me = cpu_s(os.getpid(), children=False) - me0
            recs = [json.loads(x) for x in plan.history_path.read_text().splitlines()]
    done = [r for r in recs if r["type"] in ("ok", "fail", "info")]
    ok = [r for r in done if r["type"] == "ok"]
    rate = len(ok) / seconds
    harness = me + links_cpu + load_cpu
    total = harness + nodes_cpu
    print(
        f"   {len(done)} operations ({len(ok)} ok) recorded: {rate:.0f} ok ops/s = {rate / 500:.2f}x the 500 ops/s target"
    )
    print(
        f"   baseline, {users} bare client threads (no Locust, no history), same cluster: "
        f"{bare:.0f} ok ops/s; Locust + history = {rate / bare:.2f}x the baseline"
    )
    print(
        f"   CPU over {wall:.1f} s wall on {os.cpu_count()} cores: nodes {nodes_cpu:.1f} s, load (Locust) {load_cpu:.1f} s, "
        f"link server {links_cpu:.1f} s, engine {me:.1f} s; harness share {harness / total:.0%} of the CPU this run used"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 and 20 nodes only, 5 s load")
    ap.add_argument("--users", type=int, default=8, help="load users (default 8)")
    ap.add_argument("--only-load", action="store_true", help="skip topology and smoke parts")
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other users' work counts)"
    )
    if not args.only_load:
        bench_up([5, 20] if args.quick else [5, 10, 20, 35, 50])
        bench_smoke()
    secs = 5 if args.quick else 10
    bench_load(secs, "quorum", args.users)  # the system's limit (2 round trips per op)
    bench_load(secs, "lww", args.users)  # local acks: nearer the load generator's own limit


if __name__ == "__main__":
    main()
