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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from chaoskit.atomic import atomic_write_text
from chaoskit.checker import analyse_lost_writes, check_linearizable, read_history
from chaoskit.checks import CheckResult, ChecksSpec, Evidence, evaluate_checks, parse_checks
from chaoskit.report.data import RunData, load_run
from chaoskit.report.isolation import isolation_doc
from chaoskit.report.loss_window import LossWindow, loss_windows
from chaoskit.report.scorecard import ALL_REGIONS, Scorecard, build_scorecard
from chaoskit.report.topo import topology_dict
from chaoskit.topology.model import Topology

log = logging.getLogger(__name__)

SCHEMA = "chaoskit.check/1"
# Workload -> the checker model that judges it.
WORKLOAD_MODEL = {"register": "register", "cas-register": "cas-register", "set": "set", "kv": "kv"}


class ChecksError(ValueError):
    """A `checks:` mapping that does not validate (the message says which and what is valid)."""


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
    node_exits: list[dict] = field(default_factory=list)  # node-exit events (nodewatch.py)

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
            "node_exits": self.node_exits,
            "generated_at": self.generated_at,
        }


@dataclass
class _About:
    """What the evaluation needs from the experiment."""

    checks: ChecksSpec
    workload: str
    name: str
    description: str
    topology: Any


def _about(experiment: Any, run_dir: Path, regions: list[str]) -> _About:
    """From an Experiment, a plain mapping ({name, description, load: {workload},
    checks: {...}}, the checks validated like an experiment file's) or None."""
    if experiment is None:
        return _About(ChecksSpec(), "register", run_dir.parent.name, "", None)
    if not isinstance(experiment, Mapping):
        return _About(
            experiment.checks,
            experiment.load.workload,
            experiment.name,
            experiment.description,
            experiment.topology,
        )
    load = experiment.get("load") or {}
    workload = str(load.get("workload", "register"))
    return _About(
        checks_from_mapping(experiment.get("checks"), workload, regions),
        workload,
        str(experiment.get("name") or run_dir.parent.name),
        str(experiment.get("description") or ""),
        experiment.get("topology"),
    )


def checks_from_mapping(raw: Any, workload: str, regions: list[str]) -> ChecksSpec:
    """A `checks:` mapping through the experiment validator's own parsing."""
    from chaoskit.experiment.source import Source
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate import Context

    v = Context(Source("<checks>", {"checks": raw}))
    v.regions = list(regions)
    v.clients = {r: 1 for r in regions}
    spec = parse_checks(v, raw, LoadSpec(workload=workload))
    if v.errors:
        raise ChecksError("; ".join(f"{e.field}: {e.message}" for e in v.errors))
    return spec


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
            d = asdict(w) if is_dataclass(w) else dict(w)
            lost.append(d)
    except Exception as e:  # noqa: BLE001
        lost_d = {"error": f"lost-write analysis failed: {type(e).__name__}: {e}"}
    return lin, lost_d, lost, objs


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

    `experiment`: chaoskit.experiment.Experiment (or a mapping with `checks`,
    validated like an experiment file's, or None for the scorecard alone). `topology`: chaoskit Topology for the
    picture (None: taken from the experiment, else from an earlier check.json).
    `link_state`: LinkControl.state() at the end, shown on the picture.
    `reuse_verdicts`: an earlier check.json, whose checker verdicts are reused
    instead of running the checker again (re-rendering).
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    topo_regions = [r.name for r in topology.regions] if isinstance(topology, Topology) else []
    about = _about(experiment, run_dir, topo_regions or list(run.regions))
    checks, workload = about.checks, about.workload
    if topology is None:
        topology = about.topology
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
    rto_settings = {r.region: (r.window_s, r.threshold) for r in checks.rto or []}
    lin_check = checks.linearizable
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
            lin_check.model if lin_check else None,
            workload,
            lin_check.timeout_s if lin_check else 60.0,
            lin_check is not None,
        )
    slos = tuple(sorted({a.slo_ms for a in checks.availability or [] if a.slo_ms}))
    sc = build_scorecard(run, lost, rto_settings=rto_settings, slos_ms=slos)
    acks = [w.ack_time_s for w in sc.lost_writes if w.ack_time_s is not None]
    windows = loss_windows(acks, run.events, sc.load_end_s)
    iso = isolation_doc(run_dir, checks.isolation, workload, objs, reuse_verdicts)
    exits = [e for e in run.events if e.get("event") == "node-exit"]
    results = evaluate_checks(checks, Evidence(sc, lin, windows, iso, exits))
    failures = [r.message for r in results if not r.passed]
    exp_info = {
        "name": about.name,
        "description": about.description,
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
        node_exits=exits,
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


__all__ = ["ALL_REGIONS", "CheckReport", "CheckResult", "ChecksError", "evaluate"]
