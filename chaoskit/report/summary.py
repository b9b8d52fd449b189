"""summary.md: the scorecard and verdicts as Markdown (for PRs, chat, terminals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit.report.scorecard import ALL_REGIONS

if TYPE_CHECKING:
    from chaoskit.report.checks import CheckReport


def fmt_ms(v: float | None) -> str:
    return "–" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def fmt_rate(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def fmt_s(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f} s"


def region_name(r: str) -> str:
    return "all regions" if r == ALL_REGIONS else r


def render_summary(report: CheckReport) -> str:
    sc = report.scorecard
    exp = report.experiment
    lines = [
        f"# chaoskit run `{exp.get('name', '?')}`: {'PASSED' if report.passed else 'FAILED'}",
        "",
    ]
    if exp.get("description"):
        lines += [str(exp["description"]).strip(), ""]
    if report.incomplete:
        lines += [f"**This run did not finish normally:** {report.incomplete}", ""]
    lines += ["## Checks", ""]
    if not report.results:
        lines.append(
            "No bounds in the experiment's `checks:` section; the scorecard below is informational."
        )
    for r in report.results:
        lines.append(f"- {'PASS' if r.passed else 'FAIL'}: {r.message}")
    lin = report.linearizability
    if lin and not any(r.check == "linearizable" for r in report.results):
        lines.append(f"- (info) linearizability: {lin.get('verdict')}")
    if report.node_exits:
        lines += ["", "## Nodes that stopped while no fault covered them", ""]
        for e in report.node_exits:
            lines.append(
                f"- {e.get('node')} ({e.get('region')}) at {e.get('time', 0) / 1e9:.1f} s: "
                f"{e.get('how')}; log {e.get('log')}"
            )
            tail = str(e.get("log_tail") or "").strip().splitlines()[-5:]
            if tail:
                lines += ["", "  ```", *(f"  {t}" for t in tail), "  ```"]
    lines += ["", "## Scorecard", ""]
    # availability from latency too: one column per SLO an availability check names
    slos = list(sc.rows[0].stats.within_slo) if sc.rows else []
    slo_head = "".join(f" within {k} ms |" for k in slos)
    lines.append(
        f"| region | phase | requests | rejected | success |{slo_head} served/s | p50 ms | p95 ms | p99 ms | lost writes |"
    )
    lines.append("|---|---|--:|--:|--:|" + "--:|" * len(slos) + "--:|--:|--:|--:|--:|")
    for row in sc.rows:
        s = row.stats
        lost = str(s.lost_writes) + (
            f" (oldest {s.lost_oldest_age_s:.2f} s)" if s.lost_oldest_age_s else ""
        )
        within = "".join(f" {fmt_rate(s.slo_rate(float(k)))} |" for k in slos)
        lines.append(
            f"| {region_name(row.region)} | {row.label} | {s.requests} | {s.rejected} | {fmt_rate(s.success_rate)} |{within} "
            f"{s.throughput:.1f} | {fmt_ms(s.p50_ms)} | {fmt_ms(s.p95_ms)} | {fmt_ms(s.p99_ms)} | {lost} |"
        )
    if sc.rto:
        lines += [
            "",
            "## RTO (from the fault's start until the region is served again)",
            "",
        ]
        lines.append("| fault | region | RTO | served = success rate over window |")
        lines.append("|---|---|--:|---|")
        for r in sc.rto:
            lines.append(
                f"| {r.fault} {r.kind} | {r.region} | {r.display} | >= {r.threshold:g} over {r.window_s:g} s |"
            )
    lines += ["", "## Lost writes (RPO)", ""]
    if sc.lost_writes:
        lines.append(
            f"{sc.lost_count} acknowledged writes lost; the oldest was acknowledged "
            f"{fmt_s(sc.lost_oldest_age_s)} before the fault that lost it (or the end of the load when no fault followed it)."
        )
        lines.append("")
        lines.append("| key | value | region | acknowledged at | age | fault |")
        lines.append("|---|---|---|--:|--:|---|")
        for w in sc.lost_writes[:50]:
            lines.append(
                f"| {w.key} | {w.value} | {w.region or '?'} | {fmt_s(w.ack_time_s)} | {fmt_s(w.age_s)} | {w.fault or '–'} |"
            )
        if len(sc.lost_writes) > 50:
            lines.append(f"| … {len(sc.lost_writes) - 50} more in check.json | | | | | |")
    else:
        lines.append("No acknowledged write was lost.")
    if sc.faults:
        lines += ["", "## Faults", ""]
        lines.append("| id | fault | applied | healed | heal |")
        lines.append("|---|---|--:|--:|---|")
        for f in sc.faults:
            heal = {True: "ok", False: f"FAILED: {f.heal_error}", None: "no heal recorded"}[
                f.healed
            ]
            end = "–" if f.end_ns is None else f"{f.end_ns / 1e9:.2f} s"
            lines.append(f"| {f.id} | {f.label()} | {f.start_ns / 1e9:.2f} s | {end} | {heal} |")
    if sc.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in sc.warnings]
    return "\n".join(lines) + "\n"
