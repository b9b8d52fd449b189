"""`checks.rto`: each region is served again within `max` after every fault.

Blind spot: "served" means an operation that succeeded, however slowly. A stall
shorter than the client timeout (a 1 s freeze under a 1 s timeout) ends in late
successes, so the RTO reads it as no outage at all. Availability measured from
latency (`availability: {..., slo: 200ms}`, checks/availability.py) sees it: a
success slower than the SLO counts as not served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.checks.base import (
    CheckKind,
    CheckResult,
    Evidence,
    region_entries,
    regions_of,
)

if TYPE_CHECKING:
    from chaoskit.experiment.source import PathT
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate.context import Context


@dataclass
class RtoCheck:
    region: str  # a region name or "all"
    max_s: float
    threshold: float = 0.9  # success rate that counts as "served again"
    window_s: float = 1.0


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> list[RtoCheck]:
    out: list[RtoCheck] = []
    for p, m, region in region_entries(
        v, path, raw, ("region", "max", "threshold", "window"), "rto"
    ):
        if "max" not in m:
            v.err(p, "rto needs max: the longest acceptable recovery time, e.g. 10s")
            continue
        mx = v.duration((*p, "max"), m["max"])
        th = v.number((*p, "threshold"), m.get("threshold", 0.9), lo=0, hi=1, lo_exclusive=True)
        win = v.duration((*p, "window"), m["window"], positive=True) if "window" in m else 1.0
        if None not in (region, mx, th, win):
            out.append(RtoCheck(region=region, max_s=mx, threshold=float(th), window_s=win))
    return out


def evaluate(check: RtoCheck, ev: Evidence) -> list[CheckResult]:
    sc = ev.scorecard
    out: list[CheckResult] = []
    for region in regions_of(check.region, sc):
        if region not in sc.regions:
            have = ", ".join(sc.regions) or "none"
            msg = f"rto {region}: no operations from region {region!r} (regions in the history: {have})"
            out.append(CheckResult("rto", False, msg, region=region, bound=check.max_s))
            continue
        rtos = sc.rto_for(region)
        total = sc.row(region, "all")
        if not rtos and (total is None or total.stats.requests == 0):
            if check.region in ("all", "*"):
                continue  # a region without clients (a witness site): nothing to measure
            msg = (
                f"rto {region}: no operations from region {region!r} (it has no clients), "
                "so its recovery cannot be measured"
            )
            out.append(CheckResult("rto", False, msg, region=region, bound=check.max_s))
            continue
        if not rtos:
            msg = f"rto {region}: no fault in the run, nothing to recover from"
            out.append(CheckResult("rto", True, msg, region=region, bound=check.max_s))
            continue
        for r in rtos:
            ok = r.rto_s is not None and r.rto_s <= check.max_s
            obs = r.outcome
            msg = (
                f"rto {region} after {r.fault} ({r.kind}): {obs} "
                f"({'<=' if ok else 'exceeds'} max {check.max_s:g} s; "
                f"success rate >= {check.threshold:g} over {check.window_s:g} s windows)"
            )
            out.append(
                CheckResult("rto", ok, msg, region, f"during:{r.fault}", check.max_s, r.rto_s)
            )
    return out


KIND = CheckKind("rto", parse, evaluate, many=True)
