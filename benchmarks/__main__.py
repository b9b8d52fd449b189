"""`python -m benchmarks` (or `chaoskit bench`): the quick variant of every benchmark,
one table of ratios against baselines measured in the same run.

    .venv/bin/python -m benchmarks [--porcupine PATH] [--histories DIR]
        [--only checker,load,links,topology] [--smoke]

Rows: checker vs Porcupine's test binary on its own reference histories (when
--porcupine names a build; chaoskit alone otherwise) and checking time / memory
per decade of history size; Locust with history recording vs bare client threads;
a link vs direct loopback; topology setup per node, bigger vs smaller. --smoke
runs the smallest sizes (a shape check, not a measurement).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.table import Row, render

AREAS = ("checker", "load", "links", "topology")


def runners(a: argparse.Namespace) -> dict[str, Callable[[], list[Row]]]:
    def checker() -> list[Row]:
        from benchmarks import bench_checker

        return bench_checker.quick(a.porcupine, a.histories, smoke=a.smoke)

    def load() -> list[Row]:
        from benchmarks import bench_load

        return bench_load.quick(smoke=a.smoke)

    def links() -> list[Row]:
        from benchmarks import bench_links

        return bench_links.quick(smoke=a.smoke)

    def topology() -> list[Row]:
        from benchmarks import bench_engine

        return bench_engine.quick(smoke=a.smoke)

    return {"checker": checker, "load": load, "links": links, "topology": topology}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--porcupine", type=Path, help="Porcupine's test binary (go test -c)")
    ap.add_argument("--histories", help="the reference histories directory")
    ap.add_argument("--only", default=",".join(AREAS), help="comma-separated areas to run")
    ap.add_argument("--smoke", action="store_true", help="smallest sizes: checks the table only")
    a = ap.parse_args(argv)
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    bad = [x for x in only if x not in AREAS]
    if bad:
        ap.error(f"--only: unknown area(s) {', '.join(bad)}; valid: {', '.join(AREAS)}")
    if a.porcupine is not None:
        a.porcupine = a.porcupine.resolve()
        if not a.porcupine.is_file():
            ap.error(f"--porcupine {a.porcupine}: no such file")
    rows: list[Row] = []
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    for name, fn in runners(a).items():
        if name in only:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows += fn()
    print(render(rows))
    print(
        f"{len(rows)} rows in {time.monotonic() - t0:.0f} s; load average {load0:.1f} -> "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (ratios compare runs made side by side)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
