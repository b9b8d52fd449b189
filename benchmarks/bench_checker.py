"""Checker benchmark (run by hand): `.venv/bin/python benchmarks/bench_checker.py`.

With CHAOSKIT_REFERENCE_HISTORIES set (docs/checker.md), times Porcupine's 102
Jepsen etcd histories and its kv histories and prints the ratio to Porcupine's
own (Go) figures on this 2-core machine: ~0.4 s for the etcd set, 0.04-0.16 s per
50-client kv history (target: within 3x). Always times generated linearizable
histories of 1k, 10k and 100k operations over 10 keys and 20 processes, with the
ratio to a baseline measured in the same run (reading + pairing the same history,
a linear pass), and peak memory (tracemalloc, in a second pass).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from chaoskit.checker import check_linearizable, read_history
from chaoskit.testing.histories import history_of
from chaoskit.testing.simulate import simulate, simulate_set

PORCUPINE_ETCD_S = 0.4
REPEAT = 3  # best of: the machine is shared, the minimum is the least disturbed run


def best(fn) -> tuple[float, float, object]:
    """(best CPU seconds, best wall seconds, last result) over REPEAT runs."""
    cpu = wall = float("inf")
    out = None
    for _ in range(REPEAT):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        cpu = min(cpu, time.process_time() - c)
        wall = min(wall, time.perf_counter() - w)
    return cpu, wall, out


PORCUPINE_KV_S = {"c01": 0.04, "c10": 0.04, "c50": 0.16}  # upper figures given


def bench_reference(root: Path) -> None:
    files = sorted((root / "porcupine" / "jepsen").glob("etcd_*.log"))
    files = [f for f in files if f.stat().st_size > 0]
    t = time.perf_counter()
    hs = [read_history(f, "jepsen-log") for f in files]
    parse = time.perf_counter() - t
    cpu, wall, verdicts = best(lambda: [check_linearizable(h, "cas-register").verdict for h in hs])
    print(
        f"etcd: {len(files)} histories, read {parse:.3f} s, check {cpu:.3f} s CPU / {wall:.3f} s wall "
        f"({verdicts.count('linearizable')} linearizable); "
        f"vs Porcupine {PORCUPINE_ETCD_S} s: {cpu / PORCUPINE_ETCD_S:.2f}x (CPU), "
        f"{wall / PORCUPINE_ETCD_S:.2f}x (wall)"
    )
    for f in sorted((root / "porcupine" / "kv").glob("*.txt")):
        t = time.perf_counter()
        h = read_history(f, "porcupine-kv")
        parse = time.perf_counter() - t
        cpu, wall, r = best(lambda h=h: check_linearizable(h, "kv"))
        ref = PORCUPINE_KV_S[f.stem[:3]]
        print(
            f"kv {f.stem}: {len(h.ops)} ops, read {parse:.3f} s, check {cpu:.3f} s CPU / "
            f"{wall:.3f} s wall -> {r.verdict}; vs Porcupine {ref} s: {cpu / ref:.2f}x (CPU)"
        )


def bench_generated(n: int) -> None:
    events = simulate(seed=n, n_ops=n, n_procs=20, keys=10)
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-") as d:
        p = Path(d) / "h.jsonl"
        with p.open("w") as fh:
            for i, ev in enumerate(events):
                proc, typ, f, v, key = ev
                rec = {
                    "index": i,
                    "process": proc,
                    "type": typ,
                    "f": f,
                    "key": key,
                    "value": v,
                    "time": i * 1000,
                }
                fh.write(json.dumps(rec) + "\n")
        t = time.perf_counter()
        h = read_history(p)
        base = time.perf_counter() - t
    t = time.perf_counter()
    r = check_linearizable(h, "cas-register", timeout_s=300)
    check = time.perf_counter() - t
    gc.collect()
    tracemalloc.start()
    check_linearizable(history_of(events), "cas-register", timeout_s=300)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"generated {n} ops (10 keys, 20 processes): {r.verdict}, check {check:.3f} s, "
        f"baseline read {base:.3f} s, ratio {check / base:.2f}x; "
        f"peak traced memory {peak / 2**20:.1f} MiB"
    )


def bench_set(n: int) -> None:
    h = history_of(simulate_set(seed=n, n_ops=n, n_procs=20, keys=10, crash_rate=0.1))
    cpu, wall, r = best(lambda: check_linearizable(h, "set", timeout_s=300))
    print(
        f"generated set history {n} ops (10 sets, 20 processes, 10% crashes): {r.verdict}, "
        f"check {cpu:.3f} s CPU / {wall:.3f} s wall"
    )


def main() -> None:
    root = os.environ.get("CHAOSKIT_REFERENCE_HISTORIES")
    if root:
        bench_reference(Path(root))
    else:
        print("CHAOSKIT_REFERENCE_HISTORIES not set: skipping the Porcupine/Knossos sets")
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]
    for n in sizes:
        bench_generated(n)
    bench_set(10_000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"process max RSS {rss:.0f} MiB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
