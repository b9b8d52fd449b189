"""The DR scorecard: per region and per phase, what the clients saw.

Definitions (docs/report.md repeats them for users):

- Phases: `before` (load start -> first fault), `during:<id>` (each fault, apply ->
  heal), `during` (any fault active: the union of the fault windows), `after` (last
  heal -> end of load), `all` (the whole load). An operation belongs to the phase in
  which it was *invoked*. Final-read operations, and operations still in flight
  when the load stopped (the harness ended them, not the system), are excluded
  from every phase.
- requests = operations invoked; served = ok + rejected, where rejected is a cas
  the system answered "compare did not match" (history `fail` with error
  `cas-mismatch...`: no effect, but the system was available); success rate =
  served / requests (a timeout, any other failure, or an operation still pending at
  the end counts against it); throughput and latency percentiles are over served
  operations, nearest-rank (the ceil(p/100*n)-th smallest).
- RTO, per fault and region: from the fault's start, the first time t such that
  every sliding window [t', t'+W) with t <= t' <= t+W has at least one operation
  and a success (served) rate >= threshold (default W = 1 s, threshold 0.9). RTO = t - start.
  0 when it never dropped, None ("never") when it did not recover before the end.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, field
from typing import Any

from chaoskit.report.data import NS, FaultWindow, Op, RunData

ALL_REGIONS = "*"
RTO_STEP_NS = 50_000_000  # resolution of the RTO scan (50 ms)


@dataclass
class Phase:
    key: str  # before | during | during:<fault id> | after | all
    label: str
    windows: list[tuple[int, int]]  # [start, end) in ns; several for the `during` union
    fault: str | None = None

    @property
    def start_ns(self) -> int:
        return min(s for s, _ in self.windows) if self.windows else 0

    @property
    def end_ns(self) -> int:
        return max(e for _, e in self.windows) if self.windows else 0

    @property
    def duration_ns(self) -> int:
        return sum(max(0, e - s) for s, e in self.windows)

    def contains(self, t: int) -> bool:
        return any(s <= t < e for s, e in self.windows)


@dataclass
class Stats:
    requests: int  # = ok + rejected + fail + info
    ok: int
    fail: int  # failures other than rejected cas (the system did not serve them)
    info: int
    success_rate: float | None  # served (ok + rejected) / requests; None without requests
    throughput: float  # served operations per second over the phase
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lost_writes: int = 0
    lost_oldest_age_s: float | None = None
    rejected: int = 0  # cas answered "compare did not match": served, no effect
    # Availability from latency: {SLO in ms: operations served within it}, for each
    # SLO an availability check names (`slo:`). A success slower than the SLO was not
    # served as far as a user is concerned; the RTO cannot see such a stall when it is
    # shorter than the client timeout (checks/rto.py).
    within_slo: dict[str, int] = field(default_factory=dict)

    def slo_rate(self, slo_ms: float) -> float | None:
        """Share of the requests served within `slo_ms` (None: no requests, or this SLO
        was not computed)."""
        n = self.within_slo.get(slo_key(slo_ms))
        return None if n is None or not self.requests else n / self.requests


@dataclass
class Row:
    region: str  # a region name, or "*" for all regions together
    phase: str  # Phase.key
    label: str
    start_s: float
    end_s: float
    stats: Stats


@dataclass
class RTO:
    fault: str
    kind: str
    region: str
    rto_s: float | None  # None = not seen to recover before the end of the load
    dropped: bool  # the success rate fell below the threshold at some point
    threshold: float = 0.9  # the success rate that counts as served
    window_s: float = 1.0
    # rto_s None, yet served again this long after the fault started: the load ended
    # before two windows of steady service could confirm it (too little load after it).
    served_again_s: float | None = None

    @property
    def display(self) -> str:
        if self.rto_s is not None:
            return f"{self.rto_s:.2f} s"
        if self.served_again_s is not None:
            return f"unconfirmed (served again at {self.served_again_s:.2f} s)"
        return "never"

    @property
    def outcome(self) -> str:
        """In words, for messages: the RTO, or why there is none."""
        if self.rto_s is not None:
            return f"{self.rto_s:.2f} s"
        if self.served_again_s is not None:
            return (
                f"not confirmed: served again {self.served_again_s:.2f} s after the fault "
                f"started, but the load ended before {2 * self.window_s:g} s of steady service "
                "(lengthen the load after the heal)"
            )
        return "never recovered before the end of the load"


@dataclass
class LostWrite:
    key: Any
    value: Any
    region: str | None
    ack_time_s: float | None
    age_s: float | None  # acknowledgement -> start of the fault that lost it (>= 0)
    fault: str | None


@dataclass
class Scorecard:
    regions: list[str]
    phases: list[Phase]
    rows: list[Row]
    rto: list[RTO]
    lost_writes: list[LostWrite]
    faults: list[FaultWindow]
    load_start_s: float
    load_end_s: float
    window_s: float
    threshold: float
    warnings: list[str] = field(default_factory=list)

    def row(self, region: str, phase: str) -> Row | None:
        for r in self.rows:
            if r.region == region and r.phase == phase:
                return r
        return None

    def phase(self, key: str) -> Phase | None:
        """The phase a check names: a key, or `during` for the only fault's phase."""
        return phase_alias(self.phases, key)

    def rto_for(self, region: str, fault: str | None = None) -> list[RTO]:
        return [r for r in self.rto if r.region == region and (fault is None or r.fault == fault)]

    @property
    def lost_count(self) -> int:
        return len(self.lost_writes)

    @property
    def lost_oldest_age_s(self) -> float | None:
        ages = [w.age_s for w in self.lost_writes if w.age_s is not None]
        return max(ages) if ages else None

    def to_dict(self) -> dict:
        return {
            "regions": self.regions,
            "load": {"start_s": self.load_start_s, "end_s": self.load_end_s},
            "rto_window_s": self.window_s,
            "rto_threshold": self.threshold,
            "phases": [
                {
                    "key": p.key,
                    "label": p.label,
                    "fault": p.fault,
                    "windows_s": [[round(s / NS, 6), round(e / NS, 6)] for s, e in p.windows],
                }
                for p in self.phases
            ],
            "rows": [
                {
                    "region": r.region,
                    "phase": r.phase,
                    "label": r.label,
                    "start_s": r.start_s,
                    "end_s": r.end_s,
                    **asdict(r.stats),
                }
                for r in self.rows
            ],
            "rto": [asdict(r) for r in self.rto],
            "lost_writes": {
                "count": self.lost_count,
                "oldest_age_s": self.lost_oldest_age_s,
                "writes": [asdict(w) for w in self.lost_writes],
            },
            "faults": [
                {
                    "id": f.id,
                    "kind": f.kind,
                    "label": f.label(),
                    "params": f.params,
                    "targets": f.targets,
                    "source": f.source,
                    "start_s": round(f.start_ns / NS, 6),
                    "end_s": None if f.end_ns is None else round(f.end_ns / NS, 6),
                    "healed": f.healed,
                    "heal_error": f.heal_error,
                }
                for f in self.faults
            ],
            "warnings": self.warnings,
        }


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(k, len(sorted_values)) - 1]


def slo_key(slo_ms: float) -> str:
    return f"{slo_ms:g}"


def stats_of(ops: list[Op], duration_ns: int, slos_ms: tuple[float, ...] = ()) -> Stats:
    ok = sum(1 for o in ops if o.type == "ok")
    served = [o for o in ops if o.served]
    rejected = len(served) - ok
    fail = sum(1 for o in ops if o.type == "fail") - rejected
    lat = sorted((o.latency_ns or 0) / 1e6 for o in served)
    n = len(ops)
    return Stats(
        requests=n,
        ok=ok,
        fail=fail,
        info=n - ok - rejected - fail,
        success_rate=(len(served) / n) if n else None,
        throughput=(len(served) / (duration_ns / NS)) if duration_ns > 0 else 0.0,
        p50_ms=percentile(lat, 50),
        p95_ms=percentile(lat, 95),
        p99_ms=percentile(lat, 99),
        max_ms=lat[-1] if lat else None,
        rejected=rejected,
        within_slo={slo_key(x): bisect_right(lat, x) for x in slos_ms},
    )


def build_phases(run: RunData) -> list[Phase]:
    s0, s1 = run.load_start_ns, run.load_end_ns
    faults = [f for f in run.faults if f.start_ns < s1 or f.start_ns <= s0]
    phases: list[Phase] = []
    if not faults:
        return [
            Phase("before", "before (no fault)", [(s0, s1)]),
            Phase("all", "whole load", [(s0, s1)]),
        ]
    first = min(f.start_ns for f in faults)
    phases.append(Phase("before", "before", [(s0, max(s0, first))]))
    windows = []
    for f in faults:
        a = max(s0, f.start_ns)
        b = min(s1, f.end_ns if f.end_ns is not None else s1)
        windows.append((a, max(a, b)))
        phases.append(Phase(f"during:{f.id}", f"during {f.label()}", [(a, max(a, b))], fault=f.id))
    if len(faults) > 1:
        phases.append(Phase("during", "during any fault", _union(windows)))
    last_heal = max((f.end_ns if f.end_ns is not None else s1) for f in faults)
    if last_heal < s1:
        phases.append(Phase("after", "after", [(last_heal, s1)]))
    phases.append(Phase("all", "whole load", [(s0, s1)]))
    return phases


def _union(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(windows):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def phase_alias(phases: list[Phase], key: str) -> Phase | None:
    """Find a phase by key; `during` with a single fault is that fault's phase."""
    for p in phases:
        if p.key == key:
            return p
    if key == "during":
        dur = [p for p in phases if p.key.startswith("during:")]
        if len(dur) == 1:
            return dur[0]
    if not key.startswith("during:"):
        return (
            phase_alias(phases, f"during:{key}") if key not in ("before", "after", "all") else None
        )
    return None


def compute_rto(
    ops: list[Op],
    fault: FaultWindow,
    region: str,
    horizon_ns: int,
    window_ns: int,
    threshold: float,
) -> RTO:
    """RTO of one region for one fault (see the module docstring).

    Windows are anchored at invocation times: an operation invoked at t that
    was served (ok, or a cas rejected on its compare) is evidence of service at t.
    Recovery is anchored at a served operation, because clients blocked in a
    timeout invoke nothing, and an empty stretch is no evidence of service.
    """
    mine = sorted((o.invoke_ns, o.served) for o in ops if o.region == region)
    times = [t for t, _ in mine]
    ok_prefix = [0]
    for _, good in mine:
        ok_prefix.append(ok_prefix[-1] + (1 if good else 0))

    def rate(t: int) -> float | None:
        i, j = bisect_left(times, t), bisect_left(times, t + window_ns)
        return None if j == i else (ok_prefix[j] - ok_prefix[i]) / (j - i)

    start = fault.start_ns
    end_fault = min(fault.end_ns if fault.end_ns is not None else horizon_ns, horizon_ns)
    # Dropped: a window starting while the fault was active saw operations and a
    # success rate under the threshold.
    samples = sorted(set(range(start, max(start, end_fault) + 1, RTO_STEP_NS)))
    samples += times[bisect_left(times, start) : bisect_left(times, end_fault + 1)]
    first_drop = None
    for t in sorted(samples):
        r = rate(t)
        if r is not None and r < threshold:
            first_drop = t
            break
    if first_drop is None:
        return RTO(fault.id, fault.kind, region, 0.0, dropped=False)

    def stable_from(t: int) -> bool:
        # Every window starting in [t, t + W] has operations and a good rate.
        pts = list(range(t, t + window_ns + 1, RTO_STEP_NS))
        pts += times[bisect_left(times, t) : bisect_left(times, t + window_ns + 1)]
        for p in pts:
            r = rate(p)
            if r is None or r < threshold:
                return False
        return True

    for idx in range(bisect_left(times, first_drop), len(mine)):
        t, good = mine[idx]
        if t + 2 * window_ns > horizon_ns:
            # Not enough load left to see it stay up for a window: say whether it was
            # served again at all in what is left.
            again = next((u for u, g in mine[idx:] if g and u <= horizon_ns), None)
            return RTO(
                fault.id,
                fault.kind,
                region,
                None,
                dropped=True,
                served_again_s=None if again is None else round((again - start) / NS, 3),
            )
        if good and stable_from(t):
            return RTO(fault.id, fault.kind, region, round((t - start) / NS, 3), dropped=True)
    return RTO(fault.id, fault.kind, region, None, dropped=True)


def attribute_lost_writes(run: RunData, lost: list[dict]) -> list[LostWrite]:
    """Give each lost write its region (from the history) and its age.

    Age: from the write's acknowledgement to the start of the fault that lost it,
    taken as the fault active at the acknowledgement or else the next one to start
    (clamped at 0; no fault at all: to the end of the load).
    """
    writes = {}
    for o in run.ops:
        if o.f in ("write", "add", "put", "append", "cas") and o.type in ("ok", "info"):
            v = (
                o.value[1]
                if o.f == "cas" and isinstance(o.value, list) and len(o.value) == 2
                else o.value
            )
            writes[(_hashable(o.key), _hashable(v))] = o
    out = []
    for w in lost:
        key, value = w.get("key"), w.get("value")
        op = writes.get((_hashable(key), _hashable(value)))
        ack = w.get("ack_time_ns", w.get("ack_time"))
        if ack is None and op is not None:
            ack = op.complete_ns
        fault = None
        if ack is not None:
            candidates = [f for f in run.faults if (f.end_ns or run.load_end_ns) >= ack]
            fault = min(candidates, key=lambda f: f.start_ns) if candidates else None
        ref = fault.start_ns if fault else run.load_end_ns
        age = None if ack is None else round(max(0, ref - ack) / NS, 3)
        out.append(
            LostWrite(
                key=key,
                value=value,
                region=w.get("region") or (op.region if op else None),
                ack_time_s=None if ack is None else round(ack / NS, 6),
                age_s=age,
                fault=fault.id if fault else None,
            )
        )
    return out


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def build_scorecard(
    run: RunData,
    lost: list[dict] | None = None,
    *,
    window_s: float = 1.0,
    threshold: float = 0.9,
    rto_settings: dict[str, tuple[float, float]] | None = None,
    slos_ms: tuple[float, ...] = (),
) -> Scorecard:
    """Compute every row and RTO. `rto_settings`: region -> (window_s, threshold) overrides.
    `slos_ms`: latency SLOs whose within-SLO counts each row carries (Stats.within_slo)."""
    phases = build_phases(run)
    load_ops = run.load_ops
    lost_writes = attribute_lost_writes(run, lost or [])
    op_by_write = {}
    for o in load_ops:
        op_by_write[(_hashable(o.key), _hashable(o.value))] = o
    rows: list[Row] = []
    for region in [*run.regions, ALL_REGIONS]:
        mine = load_ops if region == ALL_REGIONS else [o for o in load_ops if o.region == region]
        for p in phases:
            in_p = [o for o in mine if p.contains(o.invoke_ns)] if p.key != "all" else mine
            st = stats_of(in_p, p.duration_ns, slos_ms)
            lw = []
            for w in lost_writes:
                if region != ALL_REGIONS and w.region != region:
                    continue
                op = op_by_write.get((_hashable(w.key), _hashable(w.value)))
                if op is not None and (p.key == "all" or p.contains(op.invoke_ns)):
                    lw.append(w)
            st.lost_writes = len(lw)
            ages = [w.age_s for w in lw if w.age_s is not None]
            st.lost_oldest_age_s = max(ages) if ages else None
            rows.append(
                Row(region, p.key, p.label, round(p.start_ns / NS, 3), round(p.end_ns / NS, 3), st)
            )
    rtos = []
    loaded = {o.region for o in load_ops}  # a region without clients has no RTO to measure
    for f in run.faults:
        if f.start_ns >= run.load_end_ns:
            continue
        for region in run.regions:
            if region not in loaded:
                continue
            w, th = (rto_settings or {}).get(region, (window_s, threshold))
            r = compute_rto(load_ops, f, region, run.load_end_ns, int(w * NS), th)
            r.threshold, r.window_s = th, w
            rtos.append(r)
    return Scorecard(
        regions=list(run.regions),
        phases=phases,
        rows=rows,
        rto=rtos,
        lost_writes=lost_writes,
        faults=run.faults,
        load_start_s=round(run.load_start_ns / NS, 3),
        load_end_s=round(run.load_end_ns / NS, 3),
        window_s=window_s,
        threshold=threshold,
        warnings=list(run.warnings),
    )
