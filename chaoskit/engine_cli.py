"""`chaoskit run EXPERIMENT.yaml`: validate, run end to end, print the verdict.

Exit codes: 0 every bound held, 1 a bound failed, 2 bad experiment or usage
(nothing is started), 3 the run itself broke or was interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from chaoskit.engine import EXIT_USAGE, RunResult, run_experiment


def _summary(console: Console, result: RunResult, experiment: Any) -> None:
    t = Table(title=f"{experiment.name}: " + ("interrupted" if result.interrupted else "result"))
    t.add_column("what")
    t.add_column("value", overflow="fold")
    verdict = {0: "[green]PASSED[/] (every bound held)", 1: "[red]FAILED[/] (a bound failed)"}.get(
        result.exit_code, "[yellow]BROKEN[/] (the run did not complete)"
    )
    t.add_row("verdict", verdict)
    rep = result.checks
    if rep is not None:
        failures = getattr(rep, "failures", None)
        if failures is None and isinstance(rep, dict):
            failures = rep.get("failures")
        for f in failures or []:
            t.add_row("bound failed", str(f))
        d = rep.to_dict() if hasattr(rep, "to_dict") else rep
        lin = (d.get("linearizability") or d.get("linearizable")) if isinstance(d, dict) else None
        if isinstance(lin, dict) and "verdict" in lin:
            t.add_row("linearizable", str(lin["verdict"]))
        sc = d.get("scorecard") if isinstance(d, dict) else None
        if isinstance(sc, dict):
            for r in sc.get("rows", []):
                phase = str(r.get("phase", ""))
                if not (phase in ("before", "after") or phase.startswith("during:")):
                    continue
                region = (
                    "all regions"
                    if r.get("region") in ("*", "all", "all regions")
                    else r.get("region")
                )
                rate = r.get("success_rate")
                p99 = r.get("p99_ms")
                t.add_row(
                    f"{region} {r.get('label', phase)}"[:60],
                    f"{r.get('requests', 0)} requests, "
                    + (f"{rate:.0%} ok" if rate is not None else "no requests")
                    + (f", p99 {p99:.0f} ms" if p99 is not None else ""),
                )
            for r in sc.get("rto", []):
                v = r.get("rto_s")
                t.add_row(
                    f"RTO {r.get('region')} after {r.get('fault')} {r.get('kind')}",
                    "never recovered" if v is None else f"{v:.2f} s",
                )
        lost = d.get("lost_writes") if isinstance(d, dict) else None
        if isinstance(lost, dict) and lost.get("count") is not None:
            age = lost.get("oldest_age_s")
            t.add_row(
                "lost writes (RPO)", f"{lost['count']}" + (f", oldest {age:.1f} s" if age else "")
            )
    if result.error:
        t.add_row("error", result.error)
    for k, v in result.timings.items():
        t.add_row(k, f"{v:.2f} s")
    t.add_row("results", str(result.run_dir))
    console.print(t)


@click.command("run")
@click.argument("experiment_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a field, e.g. load.duration=10s.",
)
@click.option(
    "--results",
    "results_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Results root directory.",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "docker"]),
    default=None,
    help="Override the experiment's backend.",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve live Prometheus metrics on this port (0 = any free port).",
)
@click.option("--workers", type=int, default=None, help="Locust workers (0 = in-process).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def run(
    experiment_file: Path,
    overrides: tuple[str, ...],
    results_root: Path,
    backend: str | None,
    metrics_port: int | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Run EXPERIMENT_FILE end to end: topology up, load from every region, the
    fault schedule, heal, checks, report, teardown."""
    from chaoskit.experiment import ExperimentError, load_experiment

    console = Console(stderr=True, quiet=quiet)
    err = Console(stderr=True)
    if workers is not None and workers < 0:
        err.print(f"--workers: {workers} must be >= 0")
        sys.exit(EXIT_USAGE)
    if not experiment_file.exists():
        err.print(f"{experiment_file}: no such file")
        sys.exit(EXIT_USAGE)
    try:
        experiment = load_experiment(experiment_file, list(overrides))
    except ExperimentError as e:
        err.print(str(e), markup=False, highlight=False)
        sys.exit(EXIT_USAGE)
    for w in getattr(experiment, "warnings", []) or []:
        err.print(str(w), markup=False, highlight=False)
    result = run_experiment(
        experiment,
        results_root,
        backend=backend,
        metrics_port=metrics_port,
        workers=workers,
        quiet=quiet,
        console=console,
    )
    if result.run_dir is None and result.error:
        err.print(f"{experiment_file}: {result.error}", markup=False, highlight=False)
    elif not quiet:
        _summary(console, result, experiment)
    elif result.error:
        err.print(result.error, markup=False, highlight=False)
    # The results directory is the last line on stdout: scripts can pick it up.
    if result.run_dir is not None:
        click.echo(str(result.run_dir))
    sys.exit(result.exit_code)
