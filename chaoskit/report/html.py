"""report.html: one self-contained page (inline CSS and SVG, no script, no network).

Rendered with Jinja2 (autoescaping: every string from a history or an experiment
is escaped; only our own SVG is marked safe) from report_template.html.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from chaoskit.report import plots
from chaoskit.report.data import RunData
from chaoskit.report.isolation import isolation_fragment
from chaoskit.report.scorecard import ALL_REGIONS
from chaoskit.report.summary import fmt_ms, fmt_rate, fmt_s, region_name

if TYPE_CHECKING:
    from chaoskit.report.checks import CheckReport

# Shown first, in this order; any other file of the run directory follows.
RAW_FILES = (
    "history.jsonl",
    "events.jsonl",
    "check.json",
    "summary.md",
    "experiment.yaml",
    "linearizability.html",
)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def rate_class(v: float | None) -> str:
    if v is None:
        return "muted"
    return "r-hi" if v >= 0.99 else ("r-mid" if v >= 0.9 else "r-lo")


def compact(d: dict) -> str:
    return ", ".join(
        f"{k}={json.dumps(v, separators=(',', ':')) if not isinstance(v, str) else v}"
        for k, v in (d or {}).items()
    )


def targets_text(t: dict) -> str:
    parts = []
    for k, v in (t or {}).items():
        if isinstance(v, list):
            if not v:
                continue
            shown = ", ".join(map(str, v[:4])) + (f" … (+{len(v) - 4})" if len(v) > 4 else "")
            parts.append(f"{k}: {shown}")
        elif v:
            parts.append(f"{k}: {v}")
    return "; ".join(parts)


def raw_files(run_dir: Path, incomplete: bool = True) -> list[str]:
    """Relative links to the run's raw files that exist (never absolute or remote URLs).

    The engine renders the report before it drops the INCOMPLETE marker (the marker
    goes last), so the marker is linked only when the run really is incomplete."""
    out = [f for f in RAW_FILES if (run_dir / f).exists() or f in ("check.json", "summary.md")]
    for p in sorted(run_dir.iterdir()):
        if (
            p.is_file()
            and not p.name.startswith(".")
            and p.name not in out
            and p.name != "report.html"
            and (incomplete or p.name != "INCOMPLETE")
        ):
            out.append(p.name)
    logs = run_dir / "logs"
    if logs.is_dir():
        out += sorted(f"logs/{p.name}" for p in logs.iterdir() if p.is_file())
    return out


def _lin_view(lin: dict | None) -> tuple[str, str, str]:
    if not lin:
        return "not checked", "muted", "no `linearizable` bound in the experiment"
    v = str(lin.get("verdict", "error"))
    cls = {"linearizable": "good", "not-linearizable": "bad", "unknown": "warn"}.get(v, "bad")
    detail = []
    if lin.get("keys_checked") is not None:
        n = lin["keys_checked"]
        detail.append(f"{n} key{'' if n == 1 else 's'} checked")
    if lin.get("failing_key") is not None:
        detail.append(f"fails on key {lin['failing_key']}")
    if lin.get("elapsed_s") is not None:
        detail.append(f"checked in {float(lin['elapsed_s']):.2f} s")
    if v == "error":
        detail.append(str(lin.get("explanation", ""))[:120])
    return v.replace("-", " "), cls, " · ".join(detail)


def _isolation_view(report: CheckReport) -> tuple[str, str, str]:
    """The headline card of a transactional run: the isolation verdict, the anomaly
    classes found, and whether the experiment expected them."""
    iso = report.isolation or {}
    v = str(iso.get("verdict", "error"))
    cls = {"valid": "good", "invalid": "bad", "unknown": "warn"}.get(v, "bad")
    detail = [f"under {iso.get('consistency', '?')}"]
    if iso.get("anomaly_types"):
        detail.append(", ".join(iso["anomaly_types"]) + " found")
    if iso.get("txns") is not None:
        detail.append(f"{iso['txns']} transactions")
    if v == "error":
        detail.append(str(iso.get("explanation", ""))[:120])
    held = [r.passed for r in report.results if r.check == "isolation"]
    if v == "invalid" and held and held[0]:
        detail.insert(0, "expected by this experiment")
    return v, cls, " · ".join(detail)


def _expected_outcomes(report: CheckReport) -> dict[str, str]:
    """Words for the headline when the experiment expects a weakness (expect: false,
    lost_writes.min): whether it showed, as expected, or not."""
    out = {}
    for r in report.results:
        if r.check == "linearizable" and r.bound is False:
            out["linearizable"] = (
                "expected by this experiment: a violation was found"
                if r.passed
                else "this experiment expects a violation, and none was found"
            )
        if r.check == "lost_writes" and isinstance(r.bound, dict) and r.bound.get("min"):
            n = r.bound["min"]
            out["lost_writes"] = (
                f"expected by this experiment (at least {n})"
                if (r.observed or {}).get("count", 0) >= n
                else f"this experiment expects at least {n} lost"
            )
    return out


def rtt_matrix(topo: dict) -> dict:
    """Region x region RTT cells for the table under the topology picture."""
    regions = [r["name"] for r in topo.get("regions") or []]
    cells = {}
    for p in topo.get("pairs") or []:
        rtt = p.get("rtt_ms")
        text = (
            "?"
            if rtt is None
            else f"{rtt:.0f}" + (f" ±{p['jitter_ms']:.0f}" if p.get("jitter_ms") else "")
        )
        cut = bool(p.get("cut_by") or p.get("cut_now"))
        if cut:
            text += " ✂ " + ", ".join(p.get("cut_by") or ["now"])
        cells[(p["a"], p["b"])] = cells[(p["b"], p["a"])] = {"text": text, "cut": cut}
    return {"regions": regions, "cells": cells}


def render_report(report: CheckReport, run: RunData, lin_html: str | None = None) -> str:
    sc = report.scorecard
    rto_cards = []
    for region in sc.regions:
        rs = sc.rto_for(region)
        if not rs:
            continue
        worst = None if any(r.rto_s is None for r in rs) else max(r.rto_s for r in rs)
        rto_cards.append(
            {
                "region": region,
                "value": "never" if worst is None else ("0 s" if worst == 0 else f"{worst:.2f} s"),
                "cls": "bad" if worst is None else ("warn" if worst > 0 else "good"),
                "detail": ("never dropped during " if worst == 0 else "worst over ")
                + ", ".join(r.fault for r in rs),
            }
        )
    lin_verdict, lin_class, lin_detail = _lin_view(report.linearizability)
    expected = _expected_outcomes(report)
    if "linearizable" in expected:
        lin_detail = " · ".join(x for x in (expected["linearizable"], lin_detail) if x)
    lin_title = "Linearizability"
    if not report.linearizability and report.isolation:  # a transactional run
        lin_title = "Isolation"
        lin_verdict, lin_class, lin_detail = _isolation_view(report)
    all_row = sc.row(ALL_REGIONS, "all")
    rto_index = {(r.fault, r.region): r for r in sc.rto}
    topo = report.topology or {"regions": [], "pairs": []}
    return (
        _env()
        .get_template("report_template.html")
        .render(
            report=report,
            sc=sc,
            exp=report.experiment,
            total_ops=len(run.load_ops),
            generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.generated_at)),
            lin=report.linearizability,
            lin_title=lin_title,
            lin_verdict=lin_verdict,
            lin_class=lin_class,
            lin_detail=lin_detail,
            lost_expected=expected.get("lost_writes", ""),
            loss_windows=report.loss_windows,
            lin_html=lin_html,
            isolation_html=isolation_fragment(report),
            rto_cards=rto_cards,
            all_row=all_row,
            svg_latency=plots.latency_raw(run),
            svg_throughput=plots.throughput(run),
            svg_timeline=plots.timeline(run, report.loss_windows),
            svg_topology=plots.topology_picture(topo),
            rtt_matrix=rtt_matrix(topo),
            run_events=[
                {
                    "time": e["time"],
                    "event": e["event"],
                    "details": compact({k: v for k, v in e.items() if k not in ("time", "event")}),
                }
                for e in run.events[:500]
            ],
            rto_overrides=", ".join(
                sorted({f"{r.region}: ≥ {r.threshold:g} over {r.window_s:g} s" for r in sc.rto})
            ),
            files=raw_files(run.run_dir, incomplete=run.incomplete is not None),
            fmt_ms=fmt_ms,
            fmt_rate=fmt_rate,
            fmt_s=fmt_s,
            rate_class=rate_class,
            region_name=region_name,
            region_colour=lambda r: (
                plots.region_colour(sc.regions, r) if r != ALL_REGIONS else "#17212b"
            ),
            fault_colour=plots.fault_colour,
            rto_of=lambda f, r: rto_index.get((f, r)),
            compact=compact,
            targets_text=targets_text,
        )
    )
