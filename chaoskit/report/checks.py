"""Checks evaluation: the engine's last step of a run.

`evaluate(run_dir, experiment, topology)` reads history.jsonl + events.jsonl, runs
the checker package's linearizability and lost-write analyses, computes the
scorecard, compares every bound of the experiment's `checks:` section, and writes
check.json, summary.md and report.html (each atomically). It never raises for a
failed bound: the returned CheckReport says what failed, in words.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from chaoskit.atomic import atomic_write_text
from chaoskit.checker import analyse_lost_writes, check_linearizable, read_history
from chaoskit.report.data import RunData, load_run
from chaoskit.report.isolation import isolation_verdict
from chaoskit.report.loss_window import LossWindow, loss_windows
from chaoskit.report.scorecard import ALL_REGIONS, Scorecard, build_scorecard, phase_alias
from chaoskit.report.spec import Bounds, RtoBound, get, normalise
from chaoskit.report.topo import topology_dict

log = logging.getLogger(__name__)

SCHEMA = "chaoskit.check/1"
# Workload -> the checker model that judges it.
WORKLOAD_MODEL = {"register": "register", "cas-register": "cas-register", "set": "set", "kv": "kv"}


@dataclass
class CheckResult:
    check: str  # linearizable | lost_writes | rto | availability | latency | isolation
    passed: bool
    message: str  # readable: which bound, which region, the numbers
    region: str | None = None
    phase: str | None = None
    bound: Any = None
    observed: Any = None


@dataclass
class CheckReport:
    passed: bool
    failures: list[str]
    scorecard: Scorecard
    results: list[CheckResult] = field(default_factory=list)
    linearizability: dict | None = None  # the checker's to_dict(), or {"verdict": "error", ...}
    lost_writes: dict | None = None  # the checker's to_dict() of the lost-write analysis
    isolation: dict | None = None  # the isolation checker's to_dict() (transactional runs)
    topology: dict | None = None
    experiment: dict = field(default_factory=dict)  # name, description, workload
    incomplete: str | None = None  # why the run did not finish normally
    generated_at: float = field(default_factory=time.time)
    loss_windows: list[LossWindow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "passed": self.passed,
            "failures": self.failures,
            "checks": [asdict(r) for r in self.results],
            "linearizability": self.linearizability,
            "isolation": self.isolation,
            "lost_writes": {
                "count": self.scorecard.lost_count,
                "oldest_age_s": self.scorecard.lost_oldest_age_s,
                "windows": [asdict(w) for w in self.loss_windows],
                "checker": self.lost_writes,
            },
            "scorecard": self.scorecard.to_dict(),
            "topology": self.topology,
            "experiment": self.experiment,
            "incomplete": self.incomplete,
            "generated_at": self.generated_at,
        }


def _experiment_checks(experiment: Any) -> Any:
    if experiment is None:
        return None
    return get(experiment, "checks")


def _workload(experiment: Any) -> str:
    load = get(experiment, "load") if experiment is not None else None
    return str(get(load, "workload", default="register")) if load is not None else "register"


def run_checker(
    run: RunData, model: str | None, workload: str, timeout_s: float, want_lin: bool
) -> tuple:
    """(linearizability dict | None, lost-write dict | None, lost list, checker objects).

    A history the checker rejects is reported as a verdict of "error" rather than
    breaking the report.
    """
    lin = lost_d = None
    lost: list[dict] = []
    objs: dict[str, Any] = {}
    try:
        history = read_history(run.run_dir / "history.jsonl")
        objs["history"] = history
    except Exception as e:  # noqa: BLE001 - a broken history is a verdict, not a crash
        msg = f"history rejected by the checker: {e}"
        return ({"verdict": "error", "explanation": msg} if want_lin else None), None, lost, objs
    if want_lin:
        try:
            res = check_linearizable(
                history, model or WORKLOAD_MODEL.get(workload, "register"), timeout_s=timeout_s
            )
            objs["lin"] = res
            lin = res.to_dict()
            lin.setdefault("verdict", getattr(res, "verdict", "error"))
        except Exception as e:  # noqa: BLE001
            lin = {"verdict": "error", "explanation": f"checker failed: {type(e).__name__}: {e}"}
    try:
        lres = analyse_lost_writes(history, workload)
        lost_d = lres.to_dict()
        for w in getattr(lres, "lost", []) or []:
            d = asdict(w) if hasattr(w, "__dataclass_fields__") else dict(w)
            lost.append(d)
    except Exception as e:  # noqa: BLE001
        lost_d = {"error": f"lost-write analysis failed: {type(e).__name__}: {e}"}
    return lin, lost_d, lost, objs


def _each_region(rb: RtoBound, regions: list[str]) -> list[RtoBound]:
    if rb.region in ("all", "*"):
        return [replace(rb, region=r) for r in regions]
    return [rb]


def _rto_results(sc: Scorecard, rb: RtoBound) -> list[CheckResult]:
    if rb.region not in sc.regions:
        have = ", ".join(sc.regions) or "none"
        msg = f"rto {rb.region}: no operations from region {rb.region!r} (regions in the history: {have})"
        return [CheckResult("rto", False, msg, region=rb.region, bound=rb.max_s)]
    rtos = [r for r in sc.rto_for(rb.region) if rb.fault is None or r.fault == rb.fault]
    if not rtos:
        msg = f"rto {rb.region}: no fault in the run, nothing to recover from"
        return [CheckResult("rto", True, msg, region=rb.region, bound=rb.max_s)]
    out = []
    for r in rtos:
        ok = r.rto_s is not None and r.rto_s <= rb.max_s
        obs = (
            "never recovered before the end of the load" if r.rto_s is None else f"{r.rto_s:.2f} s"
        )
        msg = (
            f"rto {rb.region} after {r.fault} ({r.kind}): {obs} "
            f"({'<=' if ok else 'exceeds'} max {rb.max_s:g} s; "
            f"success rate >= {rb.threshold:g} over {rb.window_s:g} s windows)"
        )
        out.append(CheckResult("rto", ok, msg, rb.region, f"during:{r.fault}", rb.max_s, r.rto_s))
    return out


def _ok_operations(sc: Scorecard) -> int | None:
    """Operations that completed ok over the whole load (None if unknown)."""
    row = sc.row("*", "all")
    return None if row is None else row.stats.ok


def compare_bounds(
    sc: Scorecard, bounds: Bounds, lin: dict | None, windows: list[LossWindow] | None = None
) -> list[CheckResult]:
    out: list[CheckResult] = []
    if bounds.linearizable is not None and not bounds.linearizable.expect:
        out.append(expected_violation(lin))
    elif bounds.linearizable is not None:
        verdict = (lin or {}).get("verdict", "error")
        ok = verdict == "linearizable"
        if ok and _ok_operations(sc) == 0:
            # An empty history is trivially linearizable; a run whose clients never
            # succeeded has shown nothing, and must not pass.
            ok, verdict = False, "vacuous"
            msg = "linearizable: vacuous: no operation completed ok, so nothing was checked"
        elif ok:
            n = (lin or {}).get("keys_checked", "?")
            msg = f"linearizable: yes ({n} key{'' if n == 1 else 's'} checked)"
        else:
            expl = str((lin or {}).get("explanation") or "").strip().splitlines()
            key = (lin or {}).get("failing_key")
            msg = f"linearizable: {verdict}" + (f" on key {key}" if key is not None else "")
            # The checker's first line repeats the key; its second names the operation.
            if len(expl) > 1 and expl[0].lower().startswith("not linearizable"):
                msg += f": {expl[1]}"
            elif expl:
                msg += f": {expl[0]}"
        out.append(CheckResult("linearizable", ok, msg, bound=True, observed=verdict))
    if bounds.lost_writes is not None:
        lb = bounds.lost_writes
        n, age = sc.lost_count, sc.lost_oldest_age_s
        parts, ok = [], True
        if lb.max is not None:
            ok &= n <= lb.max
            parts.append(
                f"{n} acknowledged writes lost ({'<=' if n <= lb.max else '>'} max {lb.max})"
            )
        if lb.max_age_s is not None and age is not None:
            good = age <= lb.max_age_s
            ok &= good
            parts.append(
                f"oldest {age:.2f} s before its fault ({'<=' if good else '>'} max_age {lb.max_age_s:g} s)"
            )
        more_ok, more = expected_loss(lb, n, windows or [])
        ok &= more_ok
        parts += more
        msg = "lost_writes: " + ("; ".join(parts) if parts else f"{n} lost")
        spans = [w.span_s for w in windows or []]
        out.append(
            CheckResult(
                "lost_writes",
                ok,
                msg,
                bound=asdict(lb),
                observed={"count": n, "oldest_age_s": age, "window_s": max(spans, default=None)},
            )
        )
    for rb0 in bounds.rto:
        for rb in _each_region(rb0, sc.regions):
            out.extend(_rto_results(sc, rb))
    for ab in bounds.availability:
        for region in [ab.region] if ab.region not in (None, "all", "*") else sc.regions:
            phase = phase_alias(sc.phases, ab.phase)
            row = sc.row(region, phase.key) if phase else None
            where = f"availability {region} {ab.phase}"
            if phase is None:
                keys = ", ".join(p.key for p in sc.phases)
                out.append(
                    CheckResult(
                        "availability",
                        False,
                        f"{where}: no such phase in this run (phases: {keys})",
                        region,
                        ab.phase,
                        ab.min,
                    )
                )
                continue
            if row is None or not row.stats.requests:
                out.append(
                    CheckResult(
                        "availability",
                        False,
                        f"{where}: no requests from {region} in this phase",
                        region,
                        phase.key,
                        ab.min,
                        None,
                    )
                )
                continue
            rate = row.stats.success_rate or 0.0
            ok = rate >= ab.min
            msg = f"{where}: success rate {rate:.3f} ({row.stats.ok}/{row.stats.requests}) {'>=' if ok else '<'} min {ab.min:g}"
            out.append(CheckResult("availability", ok, msg, region, phase.key, ab.min, rate))
    for lb in bounds.latency:
        for region in [lb.region] if lb.region not in (None, "all", "*") else sc.regions:
            phase = phase_alias(sc.phases, lb.phase)
            where = f"latency {region} {lb.phase}"
            row = sc.row(region, phase.key) if phase else None
            if row is None or not row.stats.ok:
                out.append(
                    CheckResult(
                        "latency",
                        False,
                        f"{where}: no successful operations to measure",
                        region,
                        lb.phase,
                        lb.percentiles_ms,
                    )
                )
                continue
            for p, bound in lb.percentiles_ms.items():
                v = getattr(row.stats, f"{p}_ms")
                ok = v is not None and v <= bound
                msg = f"{where}: {p} {v:.1f} ms {'<=' if ok else '>'} {bound:g} ms ({row.stats.ok} ok operations)"
                out.append(CheckResult("latency", ok, msg, region, phase.key, bound, v))
    return out


def expected_violation(lin: dict | None) -> CheckResult:
    """`linearizable: {expect: false}`: the run passes only when a violation is found."""
    verdict = (lin or {}).get("verdict", "error")
    if verdict == "not-linearizable":
        key = (lin or {}).get("failing_key")
        where = f" on key {key}" if key is not None else ""
        msg = f"linearizable: no{where}, as this experiment expects (the weakness it demonstrates was found)"
        return CheckResult("linearizable", True, msg, bound=False, observed=verdict)
    if verdict == "linearizable":
        msg = (
            "linearizable: yes, but this experiment expects a violation: the weakness it "
            "demonstrates did not show, so the drill has lost its power"
        )
    else:
        msg = f"linearizable: {verdict}: the expected violation was not established"
    return CheckResult("linearizable", False, msg, bound=False, observed=verdict)


def expected_loss(lb: Bounds | Any, n: int, windows: list[LossWindow]) -> tuple[bool, list[str]]:
    """`lost_writes.min` (a demonstrated loss) and `lost_writes.max_window`."""
    ok, parts = True, []
    if lb.min is not None:
        good = n >= lb.min
        ok &= good
        parts.append(
            f"{n} acknowledged writes lost, as this experiment expects (min {lb.min})"
            if good
            else f"only {n} acknowledged writes lost; this experiment expects at least {lb.min}: "
            "the weakness it demonstrates did not show"
        )
    for w in windows:
        parts.append(f"loss window: {w.describe()}")
    if lb.max_window_s is not None and windows:
        span = max(w.span_s for w in windows)
        good = span <= lb.max_window_s
        ok &= good
        parts.append(
            f"widest loss window {span:.2f} s ({'<=' if good else '>'} max_window {lb.max_window_s:g} s)"
        )
    return ok, parts


def evaluate(
    run_dir: str | Path,
    experiment: Any,
    topology: Any = None,
    *,
    link_state: dict | None = None,
    write: bool = True,
    reuse_verdicts: dict | None = None,
) -> CheckReport:
    """Judge a finished run and write check.json, summary.md and report.html.

    `experiment`: chaoskit.experiment.Experiment (or a mapping with a `checks`
    key, or None for the scorecard alone). `topology`: chaoskit Topology for the
    picture (None: taken from the experiment, else from an earlier check.json).
    `link_state`: LinkControl.state() at the end, shown on the picture.
    `reuse_verdicts`: an earlier check.json, whose checker verdicts are reused
    instead of running the checker again (re-rendering).
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    bounds = normalise(_experiment_checks(experiment))
    workload = _workload(experiment)
    if topology is None and experiment is not None:
        topology = get(experiment, "topology")
    topo = (
        topology_dict(topology, run, link_state)
        if topology is not None and not isinstance(topology, dict)
        else topology
    )
    if topo is None and reuse_verdicts:
        topo = reuse_verdicts.get("topology")
    if topo is None:
        topo = topology_dict(None, run, link_state)
    # One region order everywhere (tables, plot colours, picture): the topology's.
    order = [r["name"] for r in (topo or {}).get("regions", [])]
    run.regions = [r for r in order if r in run.regions] + [
        r for r in run.regions if r not in order
    ]
    rto_settings = {r.region: (r.window_s, r.threshold) for r in bounds.rto}
    lin_b = bounds.linearizable
    objs: dict[str, Any] = {}
    if reuse_verdicts is not None:
        lin = reuse_verdicts.get("linearizability")
        lost_d = (reuse_verdicts.get("lost_writes") or {}).get("checker")
        lost = [
            {
                "key": w["key"],
                "value": w["value"],
                "region": w.get("region"),
                "ack_time_ns": None if w.get("ack_time_s") is None else int(w["ack_time_s"] * 1e9),
            }
            for w in (reuse_verdicts.get("scorecard") or {})
            .get("lost_writes", {})
            .get("writes", [])
        ]
    else:
        lin, lost_d, lost, objs = run_checker(
            run,
            lin_b.model if lin_b else None,
            workload,
            lin_b.timeout_s if lin_b else 60.0,
            lin_b is not None,
        )
    sc = build_scorecard(run, lost, rto_settings=rto_settings)
    acks = [w.ack_time_s for w in sc.lost_writes if w.ack_time_s is not None]
    windows = loss_windows(acks, run.events, sc.load_end_s)
    results = compare_bounds(sc, bounds, lin, windows)
    iso_result, iso = isolation_verdict(run_dir, experiment, workload, objs, reuse_verdicts)
    results += [iso_result] if iso_result is not None else []
    failures = [r.message for r in results if not r.passed]
    exp_info = {
        "name": get(experiment, "name", default=run_dir.parent.name)
        if experiment is not None
        else run_dir.parent.name,
        "description": get(experiment, "description", default="") if experiment is not None else "",
        "workload": workload,
        "run_dir": str(run_dir),
    }
    report = CheckReport(
        passed=not failures,
        failures=failures,
        scorecard=sc,
        results=results,
        linearizability=lin,
        lost_writes=lost_d,
        isolation=iso,
        topology=topo,
        experiment=exp_info,
        incomplete=run.incomplete,
        loss_windows=windows,
    )
    if write:
        write_outputs(run_dir, report, run, objs)
    return report


def write_outputs(run_dir: Path, report: CheckReport, run: RunData, objs: dict[str, Any]) -> None:
    """check.json, summary.md, the checker's visualisation (if not linearizable), report.html."""
    from chaoskit.report.html import render_report
    from chaoskit.report.summary import render_summary

    atomic_write_text(
        run_dir / "check.json", json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    )
    atomic_write_text(run_dir / "summary.md", render_summary(report))
    lin_html = None
    verdict = (report.linearizability or {}).get("verdict")
    if verdict == "not-linearizable" and "lin" in objs:
        try:
            from chaoskit.checker import render_html

            out = run_dir / "linearizability.html"
            tmp = run_dir / ".linearizability.html.tmp"
            render_html(objs["history"], objs["lin"], tmp)
            os.replace(tmp, out)
        except Exception as e:  # noqa: BLE001 - the report still renders without it
            log.warning("checker visualisation failed: %s", e)
    if (run_dir / "linearizability.html").exists():
        lin_html = (run_dir / "linearizability.html").read_text(encoding="utf-8")
    atomic_write_text(run_dir / "report.html", render_report(report, run, lin_html))


__all__ = ["ALL_REGIONS", "CheckReport", "CheckResult", "evaluate"]
