"""`checks.availability`: each region's success rate in a phase is at least `min`.

With `slo: 500ms`, availability is measured from latency as well: an operation
served slower than the SLO counts as not served (a 1 s freeze under a 1 s client
timeout reads as no outage to the RTO, but as lost availability here). The message
reports both rates; the bound applies to the within-SLO one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.checks.base import (
    PHASES,
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
class AvailabilityCheck:
    region: str  # a region name or "all"
    phase: str  # before | during | after | all
    min: float  # minimum success rate, 0..1
    slo_ms: float | None = None  # served slower than this = not served


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> list[AvailabilityCheck]:
    out: list[AvailabilityCheck] = []
    for p, m, region in region_entries(
        v, path, raw, ("region", "phase", "min", "slo"), "availability"
    ):
        phase = v.choice((*p, "phase"), m.get("phase", "all"), PHASES, "phase")
        if "min" not in m:
            v.err(p, "availability needs min: the lowest acceptable success rate, 0..1 (e.g. 0.99)")
            continue
        mn = v.number((*p, "min"), m["min"], lo=0, hi=1)
        slo = v.duration((*p, "slo"), m["slo"], positive=True) if "slo" in m else 0.0
        if None not in (region, phase, mn, slo):
            out.append(
                AvailabilityCheck(
                    region=region, phase=phase, min=float(mn), slo_ms=slo * 1000.0 or None
                )
            )
    return out


def evaluate(check: AvailabilityCheck, ev: Evidence) -> list[CheckResult]:
    sc = ev.scorecard
    out: list[CheckResult] = []
    for region in regions_of(check.region, sc):
        phase = sc.phase(check.phase)
        where = f"availability {region} {check.phase}"
        if phase is None:
            keys = ", ".join(p.key for p in sc.phases)
            msg = f"{where}: no such phase in this run (phases: {keys})"
            out.append(CheckResult("availability", False, msg, region, check.phase, check.min))
            continue
        row = sc.row(region, phase.key)
        if row is None or not row.stats.requests:
            msg = f"{where}: no requests from {region} in this phase"
            out.append(CheckResult("availability", False, msg, region, phase.key, check.min, None))
            continue
        success = row.stats.success_rate or 0.0
        text = f"success rate {success:.3f} ({row.stats.ok}/{row.stats.requests})"
        rate = success
        if check.slo_ms is not None:
            within = row.stats.slo_rate(check.slo_ms)
            if within is None:
                msg = f"{where}: the within-SLO rate for {check.slo_ms:g} ms was not computed"
                out.append(CheckResult("availability", False, msg, region, phase.key, check.min))
                continue
            rate = within
            text = f"within SLO {check.slo_ms:g} ms {within:.3f}, {text}"
        ok = rate >= check.min
        msg = f"{where}: {text} {'>=' if ok else '<'} min {check.min:g}"
        out.append(CheckResult("availability", ok, msg, region, phase.key, check.min, rate))
    return out


KIND = CheckKind("availability", parse, evaluate, many=True)
