"""Fault events of an exported run, from the Chaos Mesh workflow's start time.

The workflow runs the flattened schedule (schedule.json): step i applies
`start_s` after the workflow starts and heals `length_s` later. With the
workflow's start (`kubectl get workflow NAME -o jsonpath='{.status.startTime}'`,
or the time `kubectl apply` ran) and clock.json (the history's time base against
the wall clock), every apply and heal is placed on the history's time line and
appended to events.jsonl as `source: chaos-mesh`, followed by `run-end`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any


def fault_events(
    schedule: list[dict[str, Any]], clock: dict[str, int], workflow_start: datetime
) -> list[dict[str, Any]]:
    """apply/heal events (history time base, ns) of every step, in time order."""
    start_ns = round(workflow_start.timestamp() * 1e9) - clock["wall_ns"]
    out: list[dict[str, Any]] = []
    for s in schedule:
        at = start_ns + round(s["start_s"] * 1e9)
        common = {"id": s["id"], "fault": s["fault"], "source": "chaos-mesh"}
        out.append({"time": at, "event": "apply", **common, "params": s["params"]})
        heal = at + round(s["length_s"] * 1e9)
        out.append({"time": heal, "event": "heal", **common, "ok": True})
    out.sort(key=lambda e: e["time"])
    return out


def complete_run(run_dir: Path, workflow_start: datetime) -> int:
    """Append the fault events and run-end to run_dir/events.jsonl; drop INCOMPLETE.

    Returns the number of fault events written."""
    schedule = json.loads((run_dir / "schedule.json").read_text(encoding="utf-8"))
    clock = json.loads((run_dir / "clock.json").read_text(encoding="utf-8"))
    path = run_dir / "events.jsonl"
    existing = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    added = fault_events(schedule, clock, workflow_start)
    events = sorted(existing + added, key=lambda e: e["time"])
    end = max((e["time"] for e in events), default=0)
    events.append({"time": end, "event": "run-end", "ok": True})
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (run_dir / "INCOMPLETE").unlink(missing_ok=True)
    return len(added)
