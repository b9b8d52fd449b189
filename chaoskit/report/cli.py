"""`chaoskit report RUN_DIR` and `chaoskit report --compare RUN_A RUN_B`.

Exit codes: 0 rendered and every bound held, 1 rendered and a bound failed,
2 usage error (not a run directory, wrong number of runs, unreadable files).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from chaoskit.report.checks import ChecksError
from chaoskit.report.data import ReportError


def resolve_run_dir(p: str) -> Path:
    """A run directory, or an experiment's results directory (its `latest` run)."""
    d = Path(p)
    if (d / "history.jsonl").exists():
        return d
    if (d / "latest" / "history.jsonl").exists():
        return (d / "latest").resolve()
    what = (
        "no such directory" if not d.exists() else "not a chaoskit run directory (no history.jsonl)"
    )
    raise click.UsageError(
        f"{p}: {what}; give results/<experiment>/<timestamp> "
        f"or results/<experiment> (its `latest` run)"
    )


def _experiment(run_dir: Path) -> tuple[Any, Any]:
    """(experiment, topology) from the run's saved experiment.yaml ((None, None) without one).

    Raises ReportError when the file no longer validates (a run from an older
    chaoskit): its checks cannot be judged, and the message says why and what to do.
    """
    from chaoskit.experiment import ExperimentError, load_experiment

    path = run_dir / "experiment.yaml"
    if not path.exists():
        return None, None
    try:
        exp = load_experiment(path)
    except ExperimentError as e:
        problems = "\n".join(f"  {x}" for x in e.errors)
        raise ReportError(
            f"{path} no longer validates as an experiment, so this run's checks cannot be "
            f"judged:\n{problems}\nfix the file to today's format (docs/experiment.md), "
            "or run the experiment again"
        ) from None
    return exp, exp.topology


def render_run(run_dir: Path, recheck: bool = False) -> Any:
    """Re-render check.json, summary.md and report.html of one run."""
    from chaoskit.report.checks import evaluate

    previous = None
    if not recheck and (run_dir / "check.json").exists():
        try:
            previous = json.loads((run_dir / "check.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = None
    exp, topo = _experiment(run_dir)
    if previous is not None and previous.get("linearizability") is None and exp is not None:
        previous = None  # no verdict saved: run the checker
    return evaluate(run_dir, exp, topo, reuse_verdicts=previous)


def print_scorecard(report: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from chaoskit.report.compare import console
    from chaoskit.report.summary import fmt_ms, fmt_rate, region_name

    con = console()
    sc = report.scorecard
    t = Table(title=f"{report.experiment.get('name')}: {'PASSED' if report.passed else 'FAILED'}")
    cols = (
        "region",
        "phase",
        "requests",
        "rejected",
        "success",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "lost",
    )
    for col in cols:
        t.add_column(col, justify="left" if col in ("region", "phase") else "right")
    for row in sc.rows:
        s = row.stats
        t.add_row(
            region_name(row.region), row.phase, str(s.requests), str(s.rejected), fmt_rate(s.success_rate),
            fmt_ms(s.p50_ms), fmt_ms(s.p95_ms), fmt_ms(s.p99_ms), str(s.lost_writes),
        )  # fmt: skip
    con.print(t)
    if report.incomplete:
        # the HTML says so in its header; the terminal must too
        con.print(
            f"[yellow]INCOMPLETE run[/]: {escape(str(report.incomplete).strip())}", highlight=False
        )
    for r in sc.rto:
        con.print(f"RTO {r.region} after {r.fault} ({r.kind}): {r.display}")
    for r in report.results:
        # escaped: fault labels such as "partition [[xian]]" would be read as rich markup
        con.print(
            ("[green]PASS[/] " if r.passed else "[red]FAIL[/] ") + escape(r.message),
            highlight=False,
        )


@click.command("report")
@click.argument("runs", nargs=-1, required=True, metavar="RUN_DIR [RUN_B]")
@click.option(
    "--compare",
    "compare_",
    is_flag=True,
    help="Compare two runs side by side (HTML + terminal table).",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --compare: where to write the HTML (default: compare.html in the current directory).",
)
@click.option(
    "--recheck",
    is_flag=True,
    help="Run the checker again instead of reusing check.json's verdicts.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the scorecard.")
def report(
    runs: tuple[str, ...], compare_: bool, html_out: str | None, recheck: bool, quiet: bool
) -> None:
    """Render a run's report.html, summary.md and check.json from its raw files.

    RUN_DIR is results/<experiment>/<timestamp> (or results/<experiment>, meaning
    its latest run). With --compare, give two runs: RUN_A RUN_B.
    """
    try:
        if compare_:
            if len(runs) != 2:
                raise click.UsageError(
                    f"--compare takes exactly two runs (RUN_A RUN_B), got {len(runs)}"
                )
            from chaoskit.atomic import atomic_write_text
            from chaoskit.report.compare import compare, print_table, render_compare_html

            a, b = resolve_run_dir(runs[0]), resolve_run_dir(runs[1])
            cmp = compare(a, b)
            out = Path(html_out or "compare.html")
            atomic_write_text(out, render_compare_html(cmp, out))
            if not quiet:
                print_table(cmp)
            click.echo(f"wrote {out}")
            return
        if len(runs) != 1:
            raise click.UsageError(
                f"give one run directory (or --compare RUN_A RUN_B), got {len(runs)}"
            )
        run_dir = resolve_run_dir(runs[0])
        rep = render_run(run_dir, recheck=recheck)
        if not quiet:
            print_scorecard(rep)
        click.echo(f"wrote {run_dir / 'report.html'}")
        sys.exit(0 if rep.passed else 1)
    except (ReportError, ChecksError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
