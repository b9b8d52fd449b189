"""What the room most wants to see on the panel: is each region being served right now?

Reads the tail of the run's history.jsonl (the load process appends to it) and
counts, per region, the operations that completed in the last few seconds:
served (ok, or a cas the system answered "compare did not match") out of all, and
the median latency of the served ones. A bounded tail read keeps each panel refresh
cheap however long the game day runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from chaoskit.systems.base import is_cas_mismatch

TAIL_BYTES = 512 * 1024  # a few thousand records: far more than a 5 s window holds


@dataclass
class RegionHealth:
    ops: int  # operations completed in the window
    served: int  # ok + rejected cas
    rate: float | None  # served / ops (None: nothing completed)
    p50_ms: float | None  # median latency of the served ones whose invoke was in the tail


def recent_health(history: Path, now_ns: int, window_s: float = 5.0) -> dict[str, dict]:
    """Per region, the operations completed in (now - window, now] (times: ns since t0)."""
    try:
        with history.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            data = fh.read()
    except FileNotFoundError:
        return {}
    lines = data.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first line is cut by the seek
    invoked: dict[int, int] = {}
    counts: dict[str, list[int]] = {}
    lat: dict[str, list[float]] = {}
    since = now_ns - int(window_s * 1e9)
    for raw in lines:
        if not raw.strip():
            continue
        try:
            r = json.loads(raw)
        except ValueError:
            continue  # a line the writer is still appending
        if r.get("phase") == "final":
            continue
        t, proc = r.get("time"), r.get("process")
        if r.get("type") == "invoke":
            invoked[proc] = t
            continue
        start = invoked.pop(proc, None)
        if not isinstance(t, int) or t <= since or t > now_ns:
            continue
        region = str(r.get("region", "?"))
        c = counts.setdefault(region, [0, 0])
        c[0] += 1
        if r.get("type") == "ok" or (r.get("type") == "fail" and is_cas_mismatch(r.get("error"))):
            c[1] += 1
            if start is not None:
                lat.setdefault(region, []).append((t - start) / 1e6)
    out = {}
    for region, (ops, served) in counts.items():
        ls = sorted(lat.get(region, []))
        p50 = ls[(len(ls) - 1) // 2] if ls else None
        out[region] = asdict(
            RegionHealth(
                ops, served, served / ops if ops else None, None if p50 is None else round(p50, 1)
            )
        )
    return out
