"""`checks.lost_writes`: at most `max` acknowledged writes lost, none older than
`max_age`; with `min`, at least that many (a demonstrated weakness); with
`max_window`, the loss window (report/loss_window.py) at most that long."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.checks.base import CheckKind, CheckResult, Evidence

if TYPE_CHECKING:
    from chaoskit.experiment.source import PathT
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate.context import Context


@dataclass
class LostWritesCheck:
    max: int | None = 0  # acknowledged writes allowed to be lost (None: no upper bound)
    max_age_s: float | None = None  # and the oldest may be at most this old
    min: int | None = None  # at least this many must be lost (a demonstrated weakness)
    max_window_s: float | None = None  # bound on the loss window


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> LostWritesCheck | None:
    check = None
    if raw is True:
        check = LostWritesCheck()
    elif isinstance(raw, dict):
        m = v.mapping(path, raw, ("max", "max_age", "min", "max_window"), "lost_writes")
        if m is not None:
            check = _bounds(v, path, m)
    elif raw is not False:
        v.err(
            path,
            f"expected {{max: 0, max_age: 5s, min: 1, max_window: 5s}} or true; got {v.show(raw)}",
        )
    if check and load.workload in ("rw-register", "bank"):
        v.err(
            path,
            f"lost writes are judged for list-append transactions (each append is one "
            f"value), not for {load.workload!r}",
        )
        return None
    if check and not load.final_reads:
        v.warn(path, "lost writes are found by the final reads, but load.final_reads is false")
    return check


def _bounds(v: Context, path: PathT, m: dict) -> LostWritesCheck | None:
    """With `min` alone there is no upper bound (a run that demonstrates a loss
    expects at least `min`, however many)."""
    default_max = None if "min" in m else 0
    mx = v.number((*path, "max"), m["max"], lo=0, integer=True) if "max" in m else default_max
    mn = v.number((*path, "min"), m["min"], lo=1, integer=True) if "min" in m else None
    age = v.duration((*path, "max_age"), m["max_age"]) if "max_age" in m else None
    win = v.duration((*path, "max_window"), m["max_window"]) if "max_window" in m else None
    given = (("max", mx), ("min", mn), ("max_age", age), ("max_window", win))
    if any(k in m and val is None for k, val in given):
        return None
    if mn is not None and mx is not None and mn > mx:
        v.err((*path, "min"), f"min {mn} is above max {mx}: no run could pass")
        return None
    return LostWritesCheck(
        max=None if mx is None else int(mx),
        max_age_s=age,
        min=None if mn is None else int(mn),
        max_window_s=win,
    )


def evaluate(check: LostWritesCheck, ev: Evidence) -> list[CheckResult]:
    sc = ev.scorecard
    n, age = sc.lost_count, sc.lost_oldest_age_s
    parts, ok = [], True
    if check.max is not None:
        ok &= n <= check.max
        parts.append(
            f"{n} acknowledged writes lost ({'<=' if n <= check.max else '>'} max {check.max})"
        )
    if check.max_age_s is not None and age is not None:
        good = age <= check.max_age_s
        ok &= good
        parts.append(
            f"oldest {age:.2f} s before its fault ({'<=' if good else '>'} max_age {check.max_age_s:g} s)"
        )
    if check.min is not None:
        good = n >= check.min
        ok &= good
        parts.append(
            f"{n} acknowledged writes lost, as this experiment expects (min {check.min})"
            if good
            else f"only {n} acknowledged writes lost; this experiment expects at least {check.min}: "
            "the weakness it demonstrates did not show"
        )
    windows = ev.loss_windows
    for w in windows:
        parts.append(f"loss window: {w.describe()}")
    if check.max_window_s is not None and windows:
        span = max(w.span_s for w in windows)
        good = span <= check.max_window_s
        ok &= good
        parts.append(
            f"widest loss window {span:.2f} s ({'<=' if good else '>'} max_window {check.max_window_s:g} s)"
        )
    msg = "lost_writes: " + ("; ".join(parts) if parts else f"{n} lost")
    spans = [w.span_s for w in windows]
    observed = {"count": n, "oldest_age_s": age, "window_s": max(spans, default=None)}
    return [CheckResult("lost_writes", ok, msg, bound=asdict(check), observed=observed)]


KIND = CheckKind("lost_writes", parse, evaluate)
