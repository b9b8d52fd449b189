"""Load generator throughput: Locust users recording the full history vs bare clients.

The target must not be the bottleneck, or the benchmark measures the target: both
targets here answer one keep-alive connection in well under a millisecond
(chaoskit.testing.fakekv, one in-memory process; or a geokv `lww` cluster). On the
same target, interleaved and repeated in one run:

  bare      N threads, each with the system's own client and the same workload,
            recording nothing (the ceiling of the clients themselves);
  recorded  one Locust process with N users writing history.jsonl (what a run does);
  workers   optionally, a Locust master + W worker processes (--workers W).

Prints the median ops/s of each and the ratio to bare (goal >= 0.9), the CPU per
operation of the load process and of the target (per round on stderr, with the load
process's system share), and checks every recorded history against the contract.
Run by hand:

    .venv/bin/python -m benchmarks.bench_load [--target fakekv|geokv] [--users 8]
        [--seconds 4] [--rounds 3] [--workers 0]

With the target on the same cores the ratio tends to (bare + target CPU per op) /
(recorded + target CPU per op). On the shared 2-core machine (load average ~6.5,
`--rounds 4 --seconds 2 --workers 2`): fakekv bare 4,218 ops/s at 81 µs/op, one
Locust process 3,501 ops/s (0.83x) at 131 µs/op, target ~150 µs/op, master + 2
workers 4,133 ops/s (0.98x); geokv lww bare 1,851 ops/s at 110 µs/op, one Locust
process 1,744 ops/s (0.94x) at 153 µs/op, target ~450 µs/op, master + 2 workers
1,713 ops/s (0.93x). docs/load.md ("Performance") has the before/after figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.table import Row, interleaved, median, render
from chaoskit.load import LoadPlan, WorkloadSpec, start_load
from chaoskit.load.clients import make_client
from chaoskit.load.history import problems, read_records
from chaoskit.load.workloads import UniqueValues, Workload


@dataclass
class Target:
    name: str
    kind: str
    options: dict[str, Any]
    views: dict[str, dict[str, dict[str, str]]]
    regions: list[str]
    pids: list[int]  # the target's processes (their CPU is counted per operation too)


def cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fakekv(tmp: Path) -> Iterator[Target]:
    pf = tmp / "fakekv-port.json"
    srv = subprocess.Popen(
        [sys.executable, "-m", "chaoskit.testing.fakekv", "--port-file", str(pf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not pf.exists():
            if srv.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("fakekv did not start")
            time.sleep(0.02)
        port = json.loads(pf.read_text())["port"]
        views = {"r1": {"r1-1": {"http": f"127.0.0.1:{port}"}}}
        yield Target(
            "fakekv (1 process)",
            "chaoskit.testing.fakekv:FakeKVAdapter",
            {},
            views,
            ["r1"],
            [srv.pid],
        )
    finally:
        srv.kill()
        srv.wait()


@contextlib.contextmanager
def geokv(tmp: Path, nodes: int = 3) -> Iterator[Target]:
    from chaoskit.testing.geokv import GeoKVCluster

    regions = {f"r{i + 1}": 1 for i in range(nodes)}
    d = tmp / "geokv"
    d.mkdir()
    with GeoKVCluster(regions, d, {"mode": "lww"}) as c:
        assert c.plan is not None
        views = {
            r: {
                n: {p: str(ep) for p, ep in ports.items()} for n, ports in c.plan.outside[r].items()
            }
            for r in regions
        }
        pids = [p.pid for p in c.procs.values()]
        yield Target(
            f"geokv lww ({nodes} nodes)", "geokv", {"mode": "lww"}, views, list(regions), pids
        )


def _plan(t: Target, out: Path, users: int, seconds: float, workers: int) -> LoadPlan:
    wl = WorkloadSpec(
        "register", keys=8, duration_s=seconds, rate=None, read_ratio=0.5, timeout_s=2.0
    )
    per = {
        r: users // len(t.regions) + (i < users % len(t.regions)) for i, r in enumerate(t.regions)
    }
    return LoadPlan(t.kind, t.options, t.views, per, wl, time.monotonic_ns(), out, workers)


# ops/s; CPU µs per op of the load process (user + system) and of the target;
# of which the load process's system (kernel) share
Result = tuple[float, float, float, float]


def recorded(t: Target, out: Path, users: int, seconds: float, workers: int) -> Result:
    """(ops/s, CPU µs per op of the Locust process, of the target) of a real load run
    with full history."""
    out.mkdir(parents=True)
    plan = _plan(t, out, users, seconds, workers)
    target_cpu = cpu_of(t.pids)
    run = start_load(plan)
    if run.wait(timeout_s=seconds + 120) != 0:
        raise SystemExit(f"load failed; see {out / 'load.log'}")
    recs = read_records(plan.history_path)
    bad = problems(recs)
    if bad:
        raise SystemExit(f"malformed history: {bad[:3]}")
    target_cpu = cpu_of(t.pids) - target_cpu
    s = run.summary() or {}
    ops = max(int(s.get("ops", 0)), 1)
    return (
        float(s.get("ops_per_s", 0.0)),
        float(s.get("cpu_s", 0.0)) / ops * 1e6,
        target_cpu / ops * 1e6,
        float(s.get("cpu_system_s", 0.0)) / ops * 1e6,
    )


def bare(t: Target, tmp: Path, users: int, seconds: float) -> Result:
    """(ops/s, CPU µs per op, target CPU µs per op) of `users` threads calling the
    system's clients directly, recording nothing.

    They run in a process of their own session, as the Locust process does: with the
    kernel's autogroup scheduling a session is a scheduling group, so both sides get
    the same share of a busy machine.
    """
    plan = _plan(t, tmp, users, seconds, 0)
    plan_path = tmp / f"bare-plan-{time.monotonic_ns()}.json"
    plan.write(plan_path)
    target_cpu = cpu_of(t.pids)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_load", "--bare-plan", str(plan_path)],
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=seconds + 60,
        cwd=Path(__file__).resolve().parents[1],
    )
    if out.returncode != 0:
        raise SystemExit(f"bare clients failed: {out.stderr[-2000:]}")
    target_cpu = cpu_of(t.pids) - target_cpu
    got = json.loads(out.stdout)
    return (
        float(got["ops_per_s"]),
        float(got["cpu_us_per_op"]),
        target_cpu / max(int(got["ops"]), 1) * 1e6,
        float(got["system_us_per_op"]),
    )


def bare_clients(plan: LoadPlan) -> dict[str, float]:
    """The bare side, in its own process: one thread per user, the workload, no recording."""
    users = sum(plan.users.values())
    values = UniqueValues()
    counts = [0] * users
    regions = [r for r, n in plan.users.items() for _ in range(n)]
    start = threading.Barrier(users + 1)
    stop_at = [0.0]

    def run(i: int) -> None:
        client = make_client(plan, regions[i])
        wl = Workload(plan.workload, values, random.Random(i))
        start.wait()
        n = 0
        try:
            while time.monotonic() < stop_at[0]:
                f, key, value = wl.next_op()
                out = client.invoke(f, key, value)
                wl.observe(f, key, out.type, out.value if f == "read" else value)
                n += 1
        finally:
            client.close()
            counts[i] = n

    threads = [threading.Thread(target=run, args=(i,)) for i in range(users)]
    for th in threads:
        th.start()
    stop_at[0] = time.monotonic() + plan.workload.duration_s
    t0, cpu = time.monotonic(), os.times()
    start.wait()
    for th in threads:
        th.join()
    ops = sum(counts)
    now = os.times()
    return {
        "ops": ops,
        "ops_per_s": ops / (time.monotonic() - t0),
        "cpu_us_per_op": (now.user + now.system - cpu.user - cpu.system) / max(ops, 1) * 1e6,
        "system_us_per_op": (now.system - cpu.system) / max(ops, 1) * 1e6,
    }


def measure(target: str, users: int, seconds: float, rounds: int, workers: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        tmp_p = Path(tmp)
        make = fakekv if target == "fakekv" else geokv
        with make(tmp_p) as t:
            runs = iter(range(10**6))
            cands = {
                "bare": lambda: bare(t, tmp_p, users, seconds),
                "recorded": lambda: recorded(t, tmp_p / f"r{next(runs)}", users, seconds, 0),
            }
            if workers:
                cands["workers"] = lambda: recorded(
                    t, tmp_p / f"r{next(runs)}", users, seconds, workers
                )
            got = interleaved(rounds, cands)
            for name, xs in got.items():
                print(
                    f"  {name}: "
                    + ", ".join(
                        f"{x[0]:.0f} ops/s ({x[1]:.0f} us [sys {x[3]:.0f}] + target {x[2]:.0f} us)"
                        for x in xs
                    ),
                    file=sys.stderr,
                )
            ops = {name: median([x[0] for x in xs]) for name, xs in got.items()}
            cpu = {name: median([x[1] for x in xs]) for name, xs in got.items()}
            target_cpu = {name: median([x[2] for x in xs]) for name, xs in got.items()}
            what = f"{users} users, history recorded, on {t.name}"
            rows.append(
                Row(
                    "load",
                    f"Locust, {what}",
                    ops["recorded"],
                    "ops/s",
                    f"{users} bare client threads",
                    ops["bare"],
                    True,
                    0.9,
                )
            )
            rows.append(
                Row(
                    "load",
                    f"Locust CPU per op, {what}",
                    cpu["recorded"],
                    "us",
                    f"{users} bare client threads",
                    cpu["bare"],
                    False,
                )
            )
            rows.append(
                Row(
                    "load",
                    f"target CPU per op, {what}",
                    target_cpu["recorded"],
                    "us",
                    f"under {users} bare client threads",
                    target_cpu["bare"],
                    False,
                )
            )
            if workers:
                rows.append(
                    Row(
                        "load",
                        f"Locust master + {workers} workers, {what}",
                        ops["workers"],
                        "ops/s",
                        f"{users} bare client threads",
                        ops["bare"],
                        True,
                    )
                )
    return rows


def quick(smoke: bool = False) -> list[Row]:
    """The quick variant for `python -m benchmarks` (target fakekv: the fastest)."""
    if smoke:
        return measure("fakekv", users=4, seconds=0.5, rounds=1, workers=0)
    return measure("fakekv", users=8, seconds=2.0, rounds=3, workers=0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--target", choices=("fakekv", "geokv"), default="geokv")
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--bare-plan", help=argparse.SUPPRESS)  # the bare-clients process
    a = ap.parse_args()
    if a.bare_plan:
        print(json.dumps(bare_clients(LoadPlan.read(Path(a.bare_plan)))))
        return
    print(render(measure(a.target, a.users, a.seconds, a.rounds, a.workers)))


if __name__ == "__main__":
    main()
