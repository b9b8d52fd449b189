"""How many ops/s the load room sustains with full history recording.

Runs unthrottled users against chaoskit.testing.fakekv (one in-memory process) for a
few seconds: first one local Locust process, then a master with N workers, and
prints ops/s of each and the ratio to the single process (the baseline, measured
in the same run). Run by hand:

    .venv/bin/python benchmarks/bench_load.py [--users 8] [--seconds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaoskit.load import LoadPlan, WorkloadSpec, start_load
from chaoskit.load.history import problems, read_records


def one(out: Path, port: int, users: int, seconds: float, workers: int) -> tuple[float, int]:
    views = {"r1": {"r1-1": {"http": f"127.0.0.1:{port}"}}}
    wl = WorkloadSpec(
        "register", keys=8, duration_s=seconds, rate=None, read_ratio=0.5, timeout_s=2.0
    )
    plan = LoadPlan(
        "chaoskit.testing.fakekv:FakeKVAdapter",
        {},
        views,
        {"r1": users},
        wl,
        time.monotonic_ns(),
        out,
        workers,
    )
    run = start_load(plan)
    if run.wait(timeout_s=seconds + 120) != 0:
        raise SystemExit(f"load failed; see {out / 'load.log'}")
    recs = read_records(plan.history_path)
    bad = problems(recs)
    if bad:
        raise SystemExit(f"malformed history: {bad[:3]}")
    s = run.summary() or {}
    return float(s.get("ops_per_s", 0.0)), len(recs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        pf = Path(tmp) / "port.json"
        srv = subprocess.Popen(
            [sys.executable, "-m", "chaoskit.testing.fakekv", "--port-file", str(pf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not pf.exists():
                time.sleep(0.02)
            port = json.loads(pf.read_text())["port"]
            base, n0 = one(Path(tmp) / "local", port, a.users, a.seconds, 0)
            print(f"1 process:            {base:8.1f} ops/s  ({n0} records)")
            dist, n1 = one(Path(tmp) / "dist", port, a.users, a.seconds, a.workers)
            ratio = dist / base if base else float("nan")
            print(
                f"master + {a.workers} workers:   {dist:8.1f} ops/s  ({n1} records)  x{ratio:.2f}"
            )
        finally:
            srv.kill()
            srv.wait()


if __name__ == "__main__":
    main()
