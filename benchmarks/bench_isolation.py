"""Isolation checker benchmark (run by hand): `.venv/bin/python benchmarks/bench_isolation.py`.

For 10^3, 10^4 and 10^5 transactions: a strict serializable list-append history
(chaoskit.testing.txn_simulate: 8 concurrent clients, 1-4 micro-operations, one key
per 50 transactions, as key retirement keeps lists short) with one of each known
anomaly injected, checked under serializable and strict-serializable, plus the same
for rw-register. Each size runs in a fresh process (peak memory = its max RSS).
Printed: check CPU and wall time (the machine is shared: CPU time is the steadier
figure), the strict-serializable check's CPU time, the baseline measured in the same
process (CPU time reading and pairing the same history from its file, a linear pass)
and the ratio, peak RSS, the growth
of the time per decade of history length (1.0 per decade = linear), and whether
every injected anomaly was found. Goal: 100,000 transactions well under a minute on
one core.

Elle itself cannot run here: Java 17 is installed but Elle's Clojure dependencies
come from Clojars / Maven Central, which this machine cannot reach. Elle's README
("Performance", images/perf.svg) describes it as effectively linear in history
length and constant in concurrency, checking "hundreds of thousands of operations"
in seconds to minutes; it publishes that plot but no table of times, so no number
of Elle's is quoted as a ratio here.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (1_000, 10_000, 100_000)


def one(n: int, workload: str) -> dict:
    from chaoskit.checker import read_history
    from chaoskit.checker.history import write_history
    from chaoskit.checker.isolation import check_isolation
    from chaoskit.testing.txn_simulate import INJECTIONS, inject, simulate, to_history

    events = simulate(1, n, workload, keys=max(10, n // 50), concurrency=8, p_info=0.02)
    expected: set[str] = set()
    if workload == "list-append":
        for i, name in enumerate(sorted(INJECTIONS)):
            events = inject(events, name, seed=i, tag=f"i{i}")
            expected |= INJECTIONS[name][1]
    history = to_history(events)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "h.jsonl"
        write_history(history, path)
        t = time.process_time()
        history = read_history(path)
        baseline = time.process_time() - t
    check_isolation(to_history(simulate(2, 50, workload)), workload)  # imports, warm-up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict = {"n": n, "workload": workload, "baseline_s": baseline}
    for model in ("serializable", "strict-serializable"):
        cpu, t = time.process_time(), time.perf_counter()
        r = check_isolation(history, workload, model)
        out[model] = {
            "wall_s": time.perf_counter() - t,
            "cpu_s": time.process_time() - cpu,
            "found": sorted({a.kind for a in r.anomalies + r.allowed}),
            "edges": r.facts.get("edges"),
        }
    out["all_found"] = expected <= set(out["serializable"]["found"])
    out["expected"] = sorted(expected)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_before_check_mb"] = rss0 / 1024
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3])))
        return
    for workload in ("list-append", "rw-register"):
        print(f"\n{workload}")
        print(
            f"{'txns':>8} {'cpu s':>7} {'wall s':>7} {'strict':>7} {'baseline':>8} "
            f"{'ratio':>6} {'peak MB':>8} {'edges':>8}  injected anomalies found"
        )
        prev = None
        for n in SIZES:
            res = subprocess.run(
                [sys.executable, __file__, "--one", str(n), workload],
                capture_output=True,
                text=True,
                check=True,
            )
            d = json.loads(res.stdout)
            s, st = d["serializable"], d["strict-serializable"]
            found = "n/a (no injection)" if not d["expected"] else str(d["all_found"])
            print(
                f"{n:>8} {s['cpu_s']:>7.2f} {s['wall_s']:>7.2f} {st['cpu_s']:>7.2f} "
                f"{d['baseline_s']:>8.2f} {s['cpu_s'] / d['baseline_s']:>6.1f} "
                f"{d['peak_rss_mb']:>8.0f} {s['edges']:>8}  {found}"
            )
            if prev is not None:
                growth = math.log10(s["cpu_s"] / prev[1]) / math.log10(n / prev[0])
                print(f"{'':>8} CPU time growth per decade: {growth:.2f} (1.00 = linear)")
            prev = (n, s["cpu_s"])


if __name__ == "__main__":
    main()
