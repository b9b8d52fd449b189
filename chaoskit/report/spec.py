"""Normalise an experiment's `checks:` section into the bounds the evaluator compares.

The experiment package parses `checks:` into `Experiment.checks`; this
module reads it duck-typed (dataclass attributes or plain dict keys, durations as
seconds or as strings like "10s"), so a re-render from a saved experiment.yaml
works with the raw document too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaoskit import units


class ChecksError(ValueError):
    """A bound that cannot be understood (the message says which and what is valid)."""


def seconds(v: Any, what: str) -> float:
    """A duration in seconds (parsed seconds, or a string such as 500ms, 1.5s, 2m)."""
    try:
        return units.seconds(v, what)
    except ValueError as e:
        raise ChecksError(str(e)) from None


def get(obj: Any, *names: str, default: Any = None) -> Any:
    """The first present, non-None field among `names` (attribute or dict key)."""
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if v is not None:
            return v
    return default


def _dur(obj: Any, names: tuple[str, ...], what: str, default: float | None = None) -> float | None:
    """Durations: B may store `max` as a string or as seconds under `max_s`."""
    for n in names:
        v = get(obj, n)
        if v is not None:
            return seconds(v, what)
    return default


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


@dataclass
class LinBound:
    model: str | None
    timeout_s: float
    expect: bool = True  # False: the run must show a violation (a demonstrated weakness)


@dataclass
class LostBound:
    max: int | None
    max_age_s: float | None
    min: int | None = None  # at least this many lost (a demonstrated weakness)
    max_window_s: float | None = None  # bound on the loss window's span


@dataclass
class RtoBound:
    region: str
    max_s: float
    threshold: float = 0.9
    window_s: float = 1.0
    fault: str | None = None


@dataclass
class AvailBound:
    region: str | None  # None = every region
    phase: str
    min: float


@dataclass
class LatencyBound:
    region: str | None
    phase: str
    percentiles_ms: dict[str, float]  # "p50"/"p95"/"p99" -> bound in ms


@dataclass
class Bounds:
    linearizable: LinBound | None = None
    lost_writes: LostBound | None = None
    rto: list[RtoBound] = field(default_factory=list)
    availability: list[AvailBound] = field(default_factory=list)
    latency: list[LatencyBound] = field(default_factory=list)


def normalise(checks: Any) -> Bounds:
    """Read `Experiment.checks` (or the raw `checks:` mapping) into Bounds."""
    b = Bounds()
    if checks is None:
        return b
    lin = get(checks, "linearizable")
    if lin is True:
        b.linearizable = LinBound(None, 60.0)
    elif lin not in (None, False):
        if get(lin, "enabled", default=True) is not False:
            b.linearizable = LinBound(
                get(lin, "model"),
                _dur(lin, ("timeout_s", "timeout"), "checks.linearizable.timeout", 60.0),
                get(lin, "expect", default=True) is not False,
            )
    lw = get(checks, "lost_writes")
    rpo = get(checks, "rpo")
    if lw is not None:
        mx = get(lw, "max", "max_lost_writes")
        mn = get(lw, "min")
        b.lost_writes = LostBound(
            None if mx is None else int(mx),
            _dur(lw, ("max_age_s", "max_age"), "checks.lost_writes.max_age"),
            None if mn is None else int(mn),
            _dur(lw, ("max_window_s", "max_window"), "checks.lost_writes.max_window"),
        )
    elif rpo is not None:
        mx = get(rpo, "max_lost_writes", "max")
        b.lost_writes = LostBound(
            None if mx is None else int(mx),
            _dur(rpo, ("max_age_s", "max_age"), "checks.rpo.max_age"),
        )
    for i, r in enumerate(_as_list(get(checks, "rto"))):
        where = f"checks.rto[{i}]"
        region = get(r, "region")
        mx = _dur(r, ("max_s", "max"), f"{where}.max")
        if region is None or mx is None:
            raise ChecksError(f"{where}: needs region and max, e.g. {{region: xian, max: 10s}}")
        b.rto.append(
            RtoBound(
                str(region),
                mx,
                float(get(r, "threshold", default=0.9)),
                _dur(r, ("window_s", "window"), f"{where}.window", 1.0) or 1.0,
                get(r, "fault"),
            )
        )
    for i, a in enumerate(_as_list(get(checks, "availability"))):
        mn = get(a, "min")
        if mn is None:
            raise ChecksError(f"checks.availability[{i}]: needs min (a success rate 0..1)")
        b.availability.append(
            AvailBound(get(a, "region"), str(get(a, "phase", default="all")), float(mn))
        )
    for i, lat in enumerate(_as_list(get(checks, "latency"))):
        ps = {}
        for p in ("p50", "p95", "p99"):
            ms = get(lat, f"{p}_ms")  # the experiment package's LatencyCheck keeps milliseconds
            v = (
                float(ms) / 1000.0
                if ms is not None
                else _dur(lat, (f"{p}_s", p), f"checks.latency[{i}].{p}")
            )
            if v is not None:
                ps[p] = v * 1000.0
        if not ps:
            raise ChecksError(
                f"checks.latency[{i}]: give at least one of p50, p95, p99 (e.g. p99: 500ms)"
            )
        b.latency.append(
            LatencyBound(get(lat, "region"), str(get(lat, "phase", default="all")), ps)
        )
    return b
