"""The Locust master of an exported run (`python3 -m chaoskit.export.locust_master`).

Copies the load plan with the run's time base set to now (CLOCK_MONOTONIC of
this pod), writes clock.json (that base against the wall clock, to place the
Chaos Mesh workflow's faults on the history's time line), experiment.yaml and
schedule.json next to it, events.jsonl (run-start, load-start, load-stop), runs
the master (chaoskit.load.runner --role master), then lingers so the results can
be copied out with `kubectl cp`. Exits with the master's exit code.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from chaoskit.events import EventLog


def prepare(plan_path: Path, out: Path) -> tuple[Path, EventLog]:
    """The run's plan (t0 = now, out_dir = out), clock.json and the first events."""
    out.mkdir(parents=True, exist_ok=True)
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    t0 = time.monotonic_ns()
    wall = time.time_ns()
    plan["t0_ns"], plan["out_dir"] = t0, str(out)
    run_plan = out / "load-plan.json"
    run_plan.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    (out / "clock.json").write_text(json.dumps({"t0_ns": t0, "wall_ns": wall}), encoding="utf-8")
    for extra in ("experiment.yaml", "schedule.json"):
        if (plan_path.parent / extra).exists():
            shutil.copyfile(plan_path.parent / extra, out / extra)
    events = EventLog(out / "events.jsonl", t0_ns=t0)
    events.emit("run-start", backend="kubernetes")
    return run_plan, events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m chaoskit.export.locust_master")
    ap.add_argument("--plan", required=True, type=Path, help="the exported load-plan.json")
    ap.add_argument("--out", required=True, type=Path, help="results directory")
    ap.add_argument("--linger", type=float, default=0.0, help="seconds to wait at the end")
    a = ap.parse_args(argv)
    run_plan, events = prepare(a.plan, a.out)
    (a.out / "INCOMPLETE").write_text("the load is running\n", encoding="utf-8")
    events.emit("load-start")
    rc = subprocess.call(
        [sys.executable, "-m", "chaoskit.load.runner", "--plan", str(run_plan), "--role", "master"]
    )
    events.emit("load-stop", exit_code=rc)
    events.close()
    (a.out / "INCOMPLETE").write_text(
        "faults not yet added: run `chaoskit export events` (docs/kubernetes.md)\n",
        encoding="utf-8",
    )
    (a.out / "DONE").write_text(f"{rc}\n", encoding="utf-8")
    time.sleep(a.linger)
    return rc


if __name__ == "__main__":
    sys.exit(main())
