"""The `checks:` section: linearizable, lost_writes, rto, availability, latency, isolation."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import (
    AvailabilityCheck,
    ChecksSpec,
    LatencyCheck,
    LinearizableCheck,
    LoadSpec,
    LostWritesCheck,
    RtoCheck,
)
from chaoskit.experiment.validate.context import (
    CHECK_FIELDS,
    PHASES,
    WORKLOADS,
    Context,
    show,
)
from chaoskit.experiment.validate.txn import isolation_check


def _as_list(v: Context, path: PathT, raw: Any) -> list[tuple[PathT, Any]]:
    if isinstance(raw, list):
        return [((*path, i), x) for i, x in enumerate(raw)]
    return [(path, raw)]


def _check_region(v: Context, path: PathT, m: dict) -> str | None:
    region = m.get("region", "all")
    r = v.region((*path, "region"), region, allow=("all",))
    if r and r != "all" and v.clients.get(r, 0) == 0:
        v.warn(
            (*path, "region"),
            f"region {r!r} has no load users, so there is nothing to measure there",
        )
    return r


def _lost_writes(v: Context, wp: PathT, wm: dict) -> LostWritesCheck | None:
    """`lost_writes:` bounds. With `min` alone there is no upper bound (a run that
    demonstrates a loss expects at least `min`, however many)."""
    default_max = None if "min" in wm else 0
    mx = v.number((*wp, "max"), wm["max"], lo=0, integer=True) if "max" in wm else default_max
    mn = v.number((*wp, "min"), wm["min"], lo=1, integer=True) if "min" in wm else None
    age = v.duration((*wp, "max_age"), wm["max_age"]) if "max_age" in wm else None
    win = v.duration((*wp, "max_window"), wm["max_window"]) if "max_window" in wm else None
    given = (("max", mx), ("min", mn), ("max_age", age), ("max_window", win))
    if any(k in wm and val is None for k, val in given):
        return None
    if mn is not None and mx is not None and mn > mx:
        v.err((*wp, "min"), f"min {mn} is above max {mx}: no run could pass")
        return None
    return LostWritesCheck(
        max=None if mx is None else int(mx),
        max_age_s=age,
        min=None if mn is None else int(mn),
        max_window_s=win,
    )


def checks_section(v: Context, raw: Any, load: LoadSpec) -> ChecksSpec:
    path: PathT = ("checks",)
    spec = ChecksSpec()
    m = v.mapping(path, raw, CHECK_FIELDS, "checks")
    if not m:
        return spec
    lin = m.get("linearizable")
    lp = (*path, "linearizable")
    if lin is True:
        spec.linearizable = LinearizableCheck(model=load.workload)
    elif isinstance(lin, dict):
        lm = v.mapping(lp, lin, ("model", "timeout", "expect"), "linearizable")
        if lm is not None:
            model = v.choice((*lp, "model"), lm.get("model", load.workload), WORKLOADS, "model")
            if (
                model
                and model != load.workload
                and not (model == "register" and load.workload == "cas-register")
            ):
                v.err(
                    (*lp, "model"),
                    f"model {model!r} does not fit workload {load.workload!r} (load.workload); use {load.workload}",
                )
                model = None
            t = (
                v.duration((*lp, "timeout"), lm["timeout"], positive=True)
                if "timeout" in lm
                else 60.0
            )
            expect = lm.get("expect", True)
            if not isinstance(expect, bool):
                v.err((*lp, "expect"), f"expected true or false; got {show(expect)}")
                expect = True
            if model and t is not None:
                spec.linearizable = LinearizableCheck(model=model, timeout_s=t, expect=expect)
    elif lin not in (None, False):
        v.err(
            lp,
            f"expected true, false or {{model: register|cas-register|set, timeout: 60s, expect: true|false}}; got {show(lin)}",
        )

    spec.isolation = isolation_check(v, path, m, load)

    if "lost_writes" in m:
        lw = m["lost_writes"]
        wp = (*path, "lost_writes")
        if lw is True:
            spec.lost_writes = LostWritesCheck()
        elif isinstance(lw, dict):
            wm = v.mapping(wp, lw, ("max", "max_age", "min", "max_window"), "lost_writes")
            if wm is not None:
                spec.lost_writes = _lost_writes(v, wp, wm)
        elif lw is not False:
            v.err(
                wp,
                f"expected {{max: 0, max_age: 5s, min: 1, max_window: 5s}} or true; got {show(lw)}",
            )
        if spec.lost_writes and not load.final_reads:
            v.warn(wp, "lost writes are found by the final reads, but load.final_reads is false")

    if "rto" in m:
        out: list[RtoCheck] = []
        for p, item in _as_list(v, (*path, "rto"), m["rto"]):
            im = v.mapping(p, item, ("region", "max", "threshold", "window"), "rto")
            if im is None:
                continue
            region = _check_region(v, p, im)
            if "max" not in im:
                v.err(p, "rto needs max: the longest acceptable recovery time, e.g. 10s")
                continue
            mx = v.duration((*p, "max"), im["max"])
            th = v.number(
                (*p, "threshold"), im.get("threshold", 0.9), lo=0, hi=1, lo_exclusive=True
            )
            win = v.duration((*p, "window"), im["window"], positive=True) if "window" in im else 1.0
            if None not in (region, mx, th, win):
                out.append(RtoCheck(region=region, max_s=mx, threshold=float(th), window_s=win))
        spec.rto = out

    if "availability" in m:
        av: list[AvailabilityCheck] = []
        for p, item in _as_list(v, (*path, "availability"), m["availability"]):
            im = v.mapping(p, item, ("region", "phase", "min"), "availability")
            if im is None:
                continue
            region = _check_region(v, p, im)
            phase = v.choice((*p, "phase"), im.get("phase", "all"), PHASES, "phase")
            if "min" not in im:
                v.err(
                    p,
                    "availability needs min: the lowest acceptable success rate, 0..1 (e.g. 0.99)",
                )
                continue
            mn = v.number((*p, "min"), im["min"], lo=0, hi=1)
            if None not in (region, phase, mn):
                av.append(AvailabilityCheck(region=region, phase=phase, min=float(mn)))
        spec.availability = av

    if "latency" in m:
        lat: list[LatencyCheck] = []
        for p, item in _as_list(v, (*path, "latency"), m["latency"]):
            im = v.mapping(p, item, ("region", "phase", "p50", "p95", "p99"), "latency")
            if im is None:
                continue
            region = _check_region(v, p, im)
            phase = v.choice((*p, "phase"), im.get("phase", "all"), PHASES, "phase")
            bounds: dict[str, float] = {}
            for q in ("p50", "p95", "p99"):
                if q in im:
                    s = v.duration((*p, q), im[q], positive=True)
                    if s is not None:
                        bounds[f"{q}_ms"] = s * 1000
            if not any(q in im for q in ("p50", "p95", "p99")):
                v.err(p, "latency needs at least one bound: p50, p95 or p99 (e.g. p99: 500ms)")
                continue
            if region and phase:
                lat.append(LatencyCheck(region=region, phase=phase, **bounds))
        spec.latency = lat
    return spec


# ---------------------------------------------------------------- the document
