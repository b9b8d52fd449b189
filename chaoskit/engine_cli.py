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
from rich.markup import escape
from rich.table import Table

from chaoskit.engine import EXIT_USAGE, RemoteWorkers, RunResult, run_experiment
from chaoskit.experiment.options import (
    backend_option,
    faketime_option,
    results_option,
    set_option,
    workers_option,
)


def _summary(console: Console, result: RunResult, experiment: Any) -> None:
    t = Table(
        title=f"{experiment.name}: " + ("interrupted" if result.interrupted else "result"),
        # The description says what the experiment is meant to show (and, for
        # global-active-active, that FAILED is its expected outcome).
        caption=" ".join(str(getattr(experiment, "description", "") or "").split()) or None,
        caption_justify="left",
    )
    t.add_column("what")
    t.add_column("value", overflow="fold")
    verdict = {0: "[green]PASSED[/] (every bound held)", 1: "[red]FAILED[/] (a bound failed)"}.get(
        result.exit_code, "[yellow]BROKEN[/] (the run did not complete)"
    )
    t.add_row("verdict", verdict)
    rep = result.checks
    if rep is not None:
        d = rep.to_dict() if hasattr(rep, "to_dict") else rep
        # Every bound of the checks: section, passed or not, as the HTML report shows.
        checks = d.get("checks") if isinstance(d, dict) else None
        if checks:
            for c in checks:
                mark = "[green]PASS[/]" if c.get("passed") else "[red]FAIL[/]"
                t.add_row(f"check {c.get('check')}", f"{mark} {escape(str(c.get('message')))}")
        else:
            failures = getattr(rep, "failures", None)
            if failures is None and isinstance(rep, dict):
                failures = rep.get("failures")
            for f in failures or []:
                t.add_row("bound failed", escape(str(f)))
        lin = (d.get("linearizability") or d.get("linearizable")) if isinstance(d, dict) else None
        lin_checked = any(c.get("check") == "linearizable" for c in checks or [])
        if isinstance(lin, dict) and "verdict" in lin and not lin_checked:
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
                    # escaped: a label like "partition [[xian]]" is not rich markup
                    escape(f"{region} {r.get('label', phase)}"),
                    f"{r.get('requests', 0)} requests, "
                    + (f"{rate:.0%} ok" if rate is not None else "no requests")
                    + (f", p99 {p99:.0f} ms" if p99 is not None else ""),
                )
            for r in sc.get("rto", []):
                v = r.get("rto_s")
                t.add_row(
                    escape(f"RTO {r.get('region')} after {r.get('fault')} {r.get('kind')}"),
                    "never recovered" if v is None else f"{v:.2f} s",
                )
        lost = d.get("lost_writes") if isinstance(d, dict) else None
        if isinstance(lost, dict) and lost.get("count") is not None:
            age = lost.get("oldest_age_s")
            t.add_row(
                "lost writes (RPO)", f"{lost['count']}" + (f", oldest {age:.1f} s" if age else "")
            )
    if result.error:
        t.add_row("error", escape(result.error))
    for k, v in result.timings.items():
        # engine phase timings are keyed like "nodes_ready_s"
        t.add_row("time: " + k.removesuffix("_s").replace("_", " "), f"{v:.2f} s")
    t.add_row("results", str(result.run_dir))
    console.print(t)


@click.command("run")
@click.argument("experiment_file", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@results_option
@backend_option
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve live Prometheus metrics on this port (0 = any free port).",
)
@workers_option
@click.option(
    "--remote-workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Locust workers started by hand on other machines (`python -m chaoskit.load.runner "
    "--role worker --master-host THIS_HOST --master-port PORT`); the load starts when they "
    "have all connected. Needs --master-port.",
)
@click.option(
    "--master-bind",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="Interface the Locust master listens on for workers ('*' = every interface).",
)
@click.option(
    "--master-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Fixed Locust master port for remote workers (0 = any free port).",
)
@click.option(
    "--worker-wait",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the master waits for every worker before the run breaks (exit 3).",
)
@faketime_option
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def run(
    experiment_file: Path,
    overrides: tuple[str, ...],
    results_root: Path,
    backend: str | None,
    metrics_port: int | None,
    workers: int | None,
    remote_workers: int,
    master_bind: str,
    master_port: int,
    worker_wait: float,
    faketime_root: Path | None,
    quiet: bool,
) -> None:
    """Run EXPERIMENT_FILE end to end: topology up, load from every region, the
    fault schedule, heal, checks, report, teardown.

    Exit status: 0 every bound held, 1 a bound failed, 2 bad experiment or
    usage (nothing started), 3 the run broke or was interrupted. The results
    directory is the last line on stdout.

    \b
    Examples:
      chaoskit run experiments/smoke.yaml
      chaoskit run experiments/smoke.yaml --set load.duration=30s --results /tmp/r
      chaoskit run experiments/smoke.yaml --workers 2
      chaoskit run EXP.yaml --remote-workers 2 --master-bind '*' --master-port 5557
    """
    from chaoskit.experiment import ExperimentError, load_experiment
    from chaoskit.experiment.host import host_problems

    console = Console(stderr=True, quiet=quiet)
    err = Console(stderr=True)
    if remote_workers and not master_port:
        err.print(
            "--remote-workers: needs --master-port PORT (the workers on other machines are "
            "started with --master-port PORT, so it cannot be chosen at random)",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)
    if not experiment_file.exists():
        err.print(f"{experiment_file}: no such file", markup=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    try:
        experiment = load_experiment(experiment_file, list(overrides))
        problems = host_problems(experiment, backend, faketime_root)
        if problems:
            raise ExperimentError(problems)
    except ExperimentError as e:
        err.print(str(e), markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    for w in getattr(experiment, "warnings", []) or []:
        err.print(str(w), markup=False, highlight=False, soft_wrap=True)
    result = run_experiment(
        experiment,
        results_root,
        backend=backend,
        metrics_port=metrics_port,
        workers=workers,
        remote=RemoteWorkers(remote_workers, master_bind, master_port, worker_wait),
        quiet=quiet,
        console=console,
        faketime_root=faketime_root,
    )
    if result.run_dir is None and result.error:
        err.print(
            f"{experiment_file}: {result.error}", markup=False, highlight=False, soft_wrap=True
        )
    elif not quiet:
        _summary(console, result, experiment)
    elif result.error:
        err.print(result.error, markup=False, highlight=False, soft_wrap=True)
    # The results directory is the last line on stdout: scripts can pick it up.
    if result.run_dir is not None:
        click.echo(str(result.run_dir))
    sys.exit(result.exit_code)
