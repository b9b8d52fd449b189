"""Read a run's history.jsonl and events.jsonl into plain data for the scorecard.

This is deliberately a light reader of its own (not the checker's `read_history`):
the scorecard needs every operation paired with its completion, its region and its
phase, and must still render a report of a history the checker rejects (a broken
run is exactly when people read the report). Problems are collected as warnings
naming the file and line instead of aborting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.load.history import STOPPED_IN_FLIGHT
from chaoskit.systems.base import is_cas_mismatch

NS = 1_000_000_000


class ReportError(Exception):
    """A run directory the report cannot be built from (the message names file and line)."""


@dataclass(slots=True)
class Op:
    """One client operation: its invocation paired with its completion."""

    index: int  # index of the invocation record
    process: int
    f: str
    key: Any
    value: Any  # the invoked value
    region: str
    node: str | None
    invoke_ns: int
    complete_ns: int | None  # None: never completed (counted as info)
    type: str  # ok | fail | info (pending at the end of the history counts as info)
    result: Any = None  # the completion's value (the read value for reads)
    error: str | None = None
    final: bool = False  # recorded by the final-read phase (excluded from rates)

    @property
    def latency_ns(self) -> int | None:
        return None if self.complete_ns is None else self.complete_ns - self.invoke_ns

    @property
    def rejected(self) -> bool:
        """A cas the system answered with "compare did not match" (error marker
        `cas-mismatch`): `fail` for the checker, but the system was available."""
        return self.type == "fail" and is_cas_mismatch(self.error)

    @property
    def cut_by_load_stop(self) -> bool:
        """Still in flight when the load stopped at its end (or on Ctrl-C): the harness,
        not the system, ended it. `info` for the checker; excluded from the rates, or
        every run's last second and `after` phase would show errors that never were."""
        return self.type == "info" and (self.error or "").startswith(STOPPED_IN_FLIGHT)

    @property
    def served(self) -> bool:
        """The system answered: ok, or a rejected cas (what availability and RTO count)."""
        return self.type == "ok" or self.rejected


@dataclass
class FaultWindow:
    """One applied fault, from its `apply` event to its `heal` (or the end)."""

    id: str
    kind: str
    params: dict
    targets: dict
    start_ns: int
    end_ns: int | None  # None: never healed (the report uses the end of the load)
    source: str = "schedule"
    healed: bool | None = None  # True healed, False heal-failed, None no heal event
    heal_error: str | None = None
    heal_source: str | None = None

    def label(self) -> str:
        """A short human name: `f1 cut-region beijing`."""
        what = ""
        p = self.params or {}
        for k in ("region", "target", "from", "groups", "halves", "links", "offset", "survivors"):
            if k in p:
                what = _short(p[k])
                break
        return f"{self.id} {self.kind}" + (f" {what}" if what else "")


def _short(v: Any) -> str:
    """A parameter in a few characters: {region: beijing} -> region=beijing."""
    if isinstance(v, dict):
        return ",".join(f"{k}={_short(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return "[" + ",".join(_short(x) for x in v) + "]"
    return str(v) if not isinstance(v, float) else f"{v:g}"


@dataclass
class RunData:
    """Everything read from one run directory."""

    run_dir: Path
    ops: list[Op]
    faults: list[FaultWindow]
    events: list[dict]
    load_start_ns: int
    load_end_ns: int  # end of load (final reads excluded)
    end_ns: int  # last record of any kind
    regions: list[str]
    warnings: list[str] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    incomplete: str | None = None  # why the run did not finish normally (None: it did)

    @property
    def load_ops(self) -> list[Op]:
        """The operations the scorecard and plots count: final reads and operations
        cut by the end of the load are left out."""
        return [o for o in self.ops if not o.final and not o.cut_by_load_stop]


def _read_jsonl(path: Path, warnings: list[str]) -> list[tuple[int, dict]]:
    """(line number, record) pairs; a torn last line (crashed writer) is a warning."""
    out: list[tuple[int, dict]] = []
    if not path.exists():
        return out
    with path.open("r", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    last = len(lines)
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if no >= last - 1:
                warnings.append(f"{path}:{no}: torn last line ignored ({e.msg})")
                continue
            raise ReportError(
                f"{path}:{no}: not valid JSON ({e.msg}); every line must be one JSON object"
            ) from None
        if not isinstance(rec, dict):
            raise ReportError(f"{path}:{no}: expected a JSON object, got {type(rec).__name__}")
        out.append((no, rec))
    return out


def read_ops(path: Path, warnings: list[str] | None = None) -> list[Op]:
    """Pair every invocation with its completion (by process, per docs/contracts.md)."""
    warnings = warnings if warnings is not None else []
    open_ops: dict[Any, Op] = {}
    ops: list[Op] = []
    for no, rec in _read_jsonl(path, warnings):
        try:
            typ = rec["type"]
            proc = rec["process"]
            t = int(rec["time"])
        except (KeyError, TypeError, ValueError) as e:
            raise ReportError(
                f"{path}:{no}: record lacks a valid {e} field; needs index, process, type, f, time, region"
            ) from None
        if typ == "invoke":
            if proc in open_ops:
                warnings.append(
                    f"{path}:{no}: process {proc} invoked while busy; earlier op counted as info"
                )
                open_ops.pop(proc).type = "info"
            op = Op(
                index=int(rec.get("index", no - 1)),
                process=proc,
                f=str(rec.get("f")),
                key=rec.get("key"),
                value=rec.get("value"),
                region=str(rec.get("region") or "?"),
                node=rec.get("node"),
                invoke_ns=t,
                complete_ns=None,
                type="info",
                final=rec.get("phase") == "final",
            )
            open_ops[proc] = op
            ops.append(op)
        elif typ in ("ok", "fail", "info"):
            op = open_ops.pop(proc, None)
            if op is None:
                warnings.append(
                    f"{path}:{no}: {typ} for process {proc} without an invocation; ignored"
                )
                continue
            op.type = typ
            op.complete_ns = t
            op.result = rec.get("value")
            op.error = rec.get("error")
            if rec.get("phase") == "final":
                op.final = True
        else:
            raise ReportError(f"{path}:{no}: unknown type {typ!r}; valid: invoke, ok, fail, info")
    return ops


def read_events(path: Path, warnings: list[str] | None = None) -> list[dict]:
    warnings = warnings if warnings is not None else []
    out = []
    for no, rec in _read_jsonl(path, warnings):
        if "event" not in rec or "time" not in rec:
            raise ReportError(f"{path}:{no}: event record needs 'event' and 'time' fields")
        out.append(rec)
    out.sort(key=lambda r: r["time"])
    return out


def fault_windows(events: list[dict]) -> list[FaultWindow]:
    """Pair `apply` with `heal`/`heal-failed` by fault id, in order of application."""
    by_id: dict[str, FaultWindow] = {}
    order: list[FaultWindow] = []
    for ev in events:
        kind = ev.get("event")
        if kind == "apply":
            fid = str(ev.get("id") or f"f{len(order) + 1}")
            w = FaultWindow(
                id=fid,
                kind=str(ev.get("fault", "?")),
                params=dict(ev.get("params") or {}),
                targets=dict(ev.get("targets") or {}),
                start_ns=int(ev["time"]),
                end_ns=None,
                source=str(ev.get("source", "schedule")),
            )
            by_id[fid] = w
            order.append(w)
        elif kind in ("heal", "heal-failed"):
            w = by_id.get(str(ev.get("id")))
            if w is None or w.end_ns is not None:
                continue
            w.end_ns = int(ev["time"])
            w.heal_source = ev.get("source")
            ok = kind == "heal" and ev.get("ok", True) is not False
            w.healed = ok
            if not ok:
                w.heal_error = str(ev.get("error") or "heal failed")
    return order


def load_run(run_dir: str | Path) -> RunData:
    """Read history.jsonl and events.jsonl of a run directory."""
    run_dir = Path(run_dir)
    hist = run_dir / "history.jsonl"
    if not hist.exists():
        raise ReportError(
            f"{run_dir}: no history.jsonl here; is this a chaoskit results directory?"
        )
    warnings: list[str] = []
    ops = read_ops(hist, warnings)
    events = read_events(run_dir / "events.jsonl", warnings)
    faults = fault_windows(events)

    def ev_time(name: str) -> int | None:
        for e in events:
            if e.get("event") == name:
                return int(e["time"])
        return None

    load_ops = [o for o in ops if not o.final]
    start = ev_time("load-start")
    if start is None:
        start = min((o.invoke_ns for o in load_ops), default=0)
    end = ev_time("load-stop")
    if end is None:
        # No load-stop (crashed run): the load ended with its last operation.
        end = max((o.complete_ns or o.invoke_ns for o in load_ops), default=start)
    all_times = [o.complete_ns or o.invoke_ns for o in ops] + [int(e["time"]) for e in events]
    last = max(all_times, default=end)
    regions: list[str] = []
    for o in ops:
        if o.region not in regions:
            regions.append(o.region)
    notes = [e for e in events if e.get("event") == "note"]
    ends = [e for e in events if e.get("event") == "run-end"]
    incomplete = None
    if any(e.get("ok") is False for e in ends):
        bad = next(e for e in ends if e.get("ok") is False)
        incomplete = str(bad.get("error") or "the run ended with an error")
    elif not ends:
        marker = run_dir / "INCOMPLETE"
        text = (
            marker.read_text(encoding="utf-8", errors="replace").strip() if marker.exists() else ""
        )
        incomplete = text or "no run-end event: the run was interrupted or crashed"
    return RunData(
        run_dir=run_dir,
        ops=ops,
        faults=faults,
        events=events,
        load_start_ns=start,
        load_end_ns=max(end, start),
        end_ns=last,
        regions=regions,
        warnings=warnings,
        notes=notes,
        incomplete=incomplete,
    )
