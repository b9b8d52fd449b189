"""`checks.latency`: each region's p50/p95/p99 in a phase is at most the bound."""

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

PERCENTILES = ("p50", "p95", "p99")


@dataclass
class LatencyCheck:
    region: str  # a region name or "all"
    phase: str  # before | during | after | all
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    def bounds_ms(self) -> dict[str, float]:
        """{"p99": 500.0, ...} for the percentiles given."""
        return {q: b for q in PERCENTILES if (b := getattr(self, f"{q}_ms")) is not None}


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> list[LatencyCheck]:
    out: list[LatencyCheck] = []
    for p, m, region in region_entries(v, path, raw, ("region", "phase", *PERCENTILES), "latency"):
        phase = v.choice((*p, "phase"), m.get("phase", "all"), PHASES, "phase")
        bounds: dict[str, float] = {}
        for q in PERCENTILES:
            if q in m:
                s = v.duration((*p, q), m[q], positive=True)
                if s is not None:
                    bounds[f"{q}_ms"] = s * 1000
        if not any(q in m for q in PERCENTILES):
            v.err(p, "latency needs at least one bound: p50, p95 or p99 (e.g. p99: 500ms)")
            continue
        if region and phase:
            out.append(LatencyCheck(region=region, phase=phase, **bounds))
    return out


def evaluate(check: LatencyCheck, ev: Evidence) -> list[CheckResult]:
    sc = ev.scorecard
    out: list[CheckResult] = []
    bounds = check.bounds_ms()
    for region in regions_of(check.region, sc):
        phase = sc.phase(check.phase)
        where = f"latency {region} {check.phase}"
        row = sc.row(region, phase.key) if phase else None
        if row is None or not row.stats.ok:
            msg = f"{where}: no successful operations to measure"
            out.append(CheckResult("latency", False, msg, region, check.phase, bounds))
            continue
        for q, bound in bounds.items():
            value = getattr(row.stats, f"{q}_ms")
            ok = value is not None and value <= bound
            msg = f"{where}: {q} {value:.1f} ms {'<=' if ok else '>'} {bound:g} ms ({row.stats.ok} ok operations)"
            out.append(CheckResult("latency", ok, msg, region, phase.key, bound, value))
    return out


KIND = CheckKind("latency", parse, evaluate, many=True)
