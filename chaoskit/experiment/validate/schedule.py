"""The `schedule:` section: timed faults, sequences and random nemeses."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import (
    RandomNemesis,
    ScheduleItem,
    Sequence,
    Timed,
    Wait,
)
from chaoskit.experiment.validate.context import (
    Context,
    show,
    suggest,
)
from chaoskit.experiment.validate.faults import fault_entry


def schedule_section(v: Context, raw: Any) -> list[ScheduleItem]:
    path: PathT = ("schedule",)
    if raw is None:
        return []
    if not isinstance(raw, list):
        v.err(
            path,
            f"schedule must be a list of entries (- {{at: 15s, fault: ...}}); got {show(raw)}",
        )
        return []
    items: list[ScheduleItem] = []
    D = v.duration_s
    for i, entry in enumerate(raw):
        p: PathT = (*path, i)
        line = v.src.line(p)
        if isinstance(entry, dict) and "sequence" in entry:
            check_keys(v, p, entry, ("sequence", "at"), "a sequence entry")
            at = v.duration((*p, "at"), entry["at"]) if "at" in entry else 0.0
            steps_raw = entry["sequence"]
            if not isinstance(steps_raw, list) or not steps_raw:
                v.err(
                    (*p, "sequence"),
                    "sequence takes a non-empty list of steps: {wait: 5s} or {fault: ..., for: 10s}",
                )
                continue
            steps: list[Wait | Timed] = []
            t = at or 0.0
            for j, step in enumerate(steps_raw):
                sp = (*p, "sequence", j)
                if isinstance(step, dict) and "wait" in step:
                    check_keys(v, sp, step, ("wait",), "a wait step")
                    w = v.duration((*sp, "wait"), step["wait"])
                    if w is not None:
                        steps.append(Wait(w, v.src.line(sp)))
                        t += w
                    continue
                spec, _, for_s = fault_entry(v, sp, step, allow_at=False, allow_for=True)
                if spec is not None:
                    steps.append(Timed(0.0, for_s, spec, v.src.line(sp)))
                    t += for_s or 0.0
            if t > D:
                v.warn(
                    p,
                    f"the sequence runs until {t:g}s, after the load ends at {D:g}s (load.duration); faults still active then are healed",
                )
            items.append(Sequence(at or 0.0, steps, line))
        elif isinstance(entry, dict) and "random" in entry:
            check_keys(v, p, entry, ("random",), "a random entry")
            rp = (*p, "random")
            r = v.mapping(
                rp, entry["random"], ("faults", "interval", "for", "start", "stop"), "random"
            )
            if r is None:
                continue
            faults_raw = r.get("faults")
            if not isinstance(faults_raw, list) or not faults_raw:
                v.err(
                    (*rp, "faults") if "faults" in r else rp,
                    "random needs faults: a non-empty list of fault entries to draw from",
                )
                continue
            faults = [
                fault_entry(v, (*rp, "faults", j), f, allow_at=False, allow_for=False)[0]
                for j, f in enumerate(faults_raw)
            ]
            interval = (
                v.duration((*rp, "interval"), r["interval"], positive=True)
                if "interval" in r
                else None
            )
            if "interval" not in r:
                v.err(rp, "random needs interval: time between fault draws, e.g. 10s")
            for_s = v.duration((*rp, "for"), r["for"], positive=True) if "for" in r else None
            if "for" not in r:
                v.err(rp, "random needs for: how long each drawn fault lasts, e.g. 5s")
            start = v.duration((*rp, "start"), r["start"]) if "start" in r else 0.0
            stop = v.duration((*rp, "stop"), r["stop"], positive=True) if "stop" in r else None
            if start is not None and stop is not None and stop <= start:
                v.err((*rp, "stop"), f"stop ({stop:g}s) must be after start ({start:g}s)")
                continue
            if (
                None in faults
                or interval is None
                or for_s is None
                or start is None
                or ("stop" in r and stop is None)
            ):
                continue
            if for_s > interval:
                v.warn(
                    (*rp, "for"),
                    f"for ({for_s:g}s) is longer than interval ({interval:g}s): the next draw waits until the previous fault heals",
                )
            if start >= D:
                v.warn(
                    (*rp, "start"),
                    f"starts at {start:g}s, after the load ends at {D:g}s (load.duration)",
                )
            if stop is not None and stop > D:
                v.warn(
                    (*rp, "stop"),
                    f"stops at {stop:g}s, after the load ends at {D:g}s (load.duration)",
                )
            items.append(
                RandomNemesis([f for f in faults if f], interval, for_s, start, stop, line)
            )
        elif isinstance(entry, dict) and "fault" in entry:
            spec, at, for_s = fault_entry(v, p, entry, allow_at=True, allow_for=True)
            if spec is None:
                continue
            if at >= D:
                v.warn(
                    (*p, "at"), f"starts at {at:g}s, when the load (load.duration {D:g}s) is over"
                )
            elif for_s is not None and at + for_s > D:
                v.warn(
                    (*p, "for"),
                    f"would outlast the load: ends at {at + for_s:g}s, the load at {D:g}s; it is healed when the load ends",
                )
            items.append(Timed(at, for_s, spec, line))
        elif isinstance(entry, dict) and "wait" in entry:
            v.err(
                (*p, "wait"),
                "wait is a step of a sequence (- sequence: [{wait: 5s}, ...]); at the top level use at:",
            )
        else:
            v.err(
                p,
                "each schedule entry needs fault: (a timed fault), sequence: (steps in order) or random: (a random nemesis)",
            )
    return items


def check_keys(v: Context, path: PathT, m: dict, allowed: tuple[str, ...], what: str) -> None:
    for key in m:
        if key not in allowed:
            v.err(
                (*path, key),
                f"unknown field {key!r} in {what}; {suggest(key, allowed)}valid fields: {', '.join(allowed)}",
            )
