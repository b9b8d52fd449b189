"""Two runs' scorecards side by side: a terminal table and a self-contained HTML page.

Rows are matched by (region, phase key); a phase present in one run only is shown
with dashes on the other side. Inputs are the runs' check.json files (written by
`evaluate`), so comparing is instant and needs no checker.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.report.data import ReportError
from chaoskit.report.summary import fmt_ms, fmt_rate, region_name


@dataclass
class Side:
    label: str  # a short name for the column header
    run_dir: Path
    check: dict


@dataclass
class CompareRow:
    region: str
    phase: str
    label: str
    a: dict | None
    b: dict | None


@dataclass
class Comparison:
    a: Side
    b: Side
    rows: list[CompareRow]
    rto: list[
        tuple[str, str, float | None, float | None, bool, bool]
    ]  # fault, region, a, b, a present, b present
    generated_at: float = field(default_factory=time.time)


def load_check(run_dir: Path) -> dict:
    p = run_dir / "check.json"
    if not p.exists():
        raise ReportError(
            f"{run_dir}: no check.json; render it first with `chaoskit report {run_dir}`"
        )
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ReportError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None


def _label(run_dir: Path) -> str:
    run_dir = run_dir.resolve()
    return f"{run_dir.parent.name}/{run_dir.name}"


def compare(a_dir: Path, b_dir: Path) -> Comparison:
    a = Side(_label(a_dir), a_dir, load_check(a_dir))
    b = Side(_label(b_dir), b_dir, load_check(b_dir))
    if a.label == b.label:
        a.label, b.label = f"A {a.label}", f"B {b.label}"

    def rows_of(c: dict) -> dict:
        return {(r["region"], r["phase"]): r for r in c.get("scorecard", {}).get("rows", [])}

    ra, rb = rows_of(a.check), rows_of(b.check)
    order: list[tuple[str, str]] = []
    for k in [*ra, *rb]:
        if k not in order:
            order.append(k)
    # Regions in first-seen order, phases in a stable DR order inside each region.
    rank = {"before": 0, "during": 2, "after": 3, "all": 4}
    regions = []
    for reg, _ in order:
        if reg not in regions:
            regions.append(reg)
    if "*" in regions:  # all regions after the regions of either run
        regions.append(regions.pop(regions.index("*")))
    order.sort(key=lambda k: (regions.index(k[0]), rank.get(k[1], 1), k[1]))
    rows = []
    for k in order:
        x, y = ra.get(k), rb.get(k)
        label = (x or y or {}).get("label", k[1])
        if x and y and x.get("label") != y.get("label"):
            label = f"{x.get('label')} / {y.get('label')}"
        rows.append(CompareRow(k[0], k[1], label, x, y))

    def rto_of(c: dict) -> dict:
        return {
            (r["fault"], r["region"]): r.get("rto_s") for r in c.get("scorecard", {}).get("rto", [])
        }

    ta, tb = rto_of(a.check), rto_of(b.check)
    keys = list(dict.fromkeys([*ta, *tb]))
    rto = [(f, r, ta.get((f, r)), tb.get((f, r)), (f, r) in ta, (f, r) in tb) for f, r in keys]
    return Comparison(a, b, rows, rto)


def _delta(x: float | None, y: float | None, pct: bool = False) -> str:
    if x is None or y is None:
        return ""
    d = y - x
    if pct:
        return f"{100 * d:+.1f} pt"
    return f"{d:+.1f}"


def _rto_text(v: float | None, present: bool) -> str:
    if not present:
        return "–"
    return "never" if v is None else f"{v:.2f} s"


def glance(c: dict) -> list[tuple[str, str, str]]:
    """The few numbers a room compares first: (what, text, css class) for one run."""
    sc = c.get("scorecard", {})
    tot = next(
        (r for r in sc.get("rows", []) if r.get("region") == "*" and r.get("phase") == "all"), {}
    )
    what, lin = consistency_of(c)
    lost = c.get("lost_writes") or {}
    n_lost = lost.get("count", 0) or 0
    age = lost.get("oldest_age_s")
    rtos = sc.get("rto", [])
    never = [r for r in rtos if r.get("rto_s") is None]
    if never:
        worst = (f"never ({never[0]['region']}, {never[0]['fault']})", "r-lo")
    elif rtos:
        w = max(rtos, key=lambda r: r["rto_s"])
        worst = (f"{w['rto_s']:.2f} s ({w['region']}, {w['fault']})", "")
    else:
        worst = ("no fault", "muted")
    from chaoskit.report.html import rate_class

    return [
        ("verdict", verdict_of(c), "r-hi" if c.get("passed") else "r-lo"),
        (what, lin, "r-hi" if lin == "linearizable" or lin.startswith("valid ") else "r-lo"),
        (
            "acknowledged writes lost",
            f"{n_lost}" + (f" (oldest {age:.2f} s before its fault)" if n_lost and age else ""),
            "r-hi" if n_lost == 0 else "r-lo",
        ),
        ("success rate, all regions", fmt_rate(tot.get("success_rate")),
         rate_class(tot.get("success_rate"))),
        ("p99 latency, all regions", f"{fmt_ms(tot.get('p99_ms'))} ms", ""),
        ("worst RTO", *worst),
        ("requests", str(tot.get("requests", "–")), ""),
    ]  # fmt: skip


def consistency_of(c: dict) -> tuple[str, str]:
    """("linearizability", its verdict) or, for a transactional run, ("isolation",
    its verdict under the consistency model checked)."""
    lin, iso = c.get("linearizability"), c.get("isolation")
    if not lin and iso:
        return "isolation", f"{iso.get('verdict', 'error')} ({iso.get('consistency', '?')})"
    return "linearizability", (lin or {}).get("verdict", "not checked")


def verdict_of(c: dict) -> str:
    return "PASSED" if c.get("passed") else "FAILED"


def console() -> Any:
    """A rich console; when output is not a terminal, wide enough for the tables."""
    from rich.console import Console

    c = Console()
    return c if c.is_terminal else Console(width=160)


def print_table(cmp: Comparison) -> None:
    """The comparison as rich tables on the terminal."""
    from rich.table import Table

    con = console()
    con.print(
        f"[bold]A[/] {cmp.a.label}: {verdict_of(cmp.a.check)}, "
        f"{' '.join(consistency_of(cmp.a.check))}, "
        f"lost writes {(cmp.a.check.get('lost_writes') or {}).get('count', 0)}"
    )
    con.print(
        f"[bold]B[/] {cmp.b.label}: {verdict_of(cmp.b.check)}, "
        f"{' '.join(consistency_of(cmp.b.check))}, "
        f"lost writes {(cmp.b.check.get('lost_writes') or {}).get('count', 0)}"
    )
    t = Table(title="scorecard A vs B", show_lines=False)
    for col in (
        "region",
        "phase",
        "req A",
        "req B",
        "success A",
        "success B",
        "Δ",
        "p99 A ms",
        "p99 B ms",
        "Δ ms",
        "lost A",
        "lost B",
    ):
        t.add_column(col, justify="left" if col in ("region", "phase") else "right")
    for r in cmp.rows:
        a, b = r.a or {}, r.b or {}
        t.add_row(
            region_name(r.region),
            r.phase,
            str(a.get("requests", "–")),
            str(b.get("requests", "–")),
            fmt_rate(a.get("success_rate")),
            fmt_rate(b.get("success_rate")),
            _delta(a.get("success_rate"), b.get("success_rate"), pct=True),
            fmt_ms(a.get("p99_ms")),
            fmt_ms(b.get("p99_ms")),
            _delta(a.get("p99_ms"), b.get("p99_ms")),
            str(a.get("lost_writes", "–")),
            str(b.get("lost_writes", "–")),
        )
    con.print(t)
    if cmp.rto:
        rt = Table(title="RTO A vs B")
        for col in ("fault", "region", "A", "B"):
            rt.add_column(col, justify="left" if col in ("fault", "region") else "right")
        for f, reg, x, y, px, py in cmp.rto:
            rt.add_row(f, reg, _rto_text(x, px), _rto_text(y, py))
        con.print(rt)


def render_compare_html(cmp: Comparison, out_path: Path | None = None) -> str:
    """The HTML page; links to each run's report.html are relative to `out_path`."""
    import os

    from chaoskit.report.html import _env, rate_class

    base = (out_path or Path("compare.html")).resolve().parent
    hrefs = {
        tag: Path(os.path.relpath(side.run_dir.resolve() / "report.html", base)).as_posix()
        for tag, side in (("A", cmp.a), ("B", cmp.b))
    }

    return (
        _env()
        .get_template("compare_template.html")
        .render(
            cmp=cmp,
            hrefs=hrefs,
            a=cmp.a,
            b=cmp.b,
            verdict_of=verdict_of,
            consistency_of=consistency_of,
            glance=glance,
            zip=zip,
            fmt_ms=fmt_ms,
            fmt_rate=fmt_rate,
            rate_class=rate_class,
            region_name=region_name,
            delta=_delta,
            rto_text=_rto_text,
            generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cmp.generated_at)),
        )
    )
