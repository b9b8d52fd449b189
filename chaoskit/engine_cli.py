"""`chaoskit run EXPERIMENT.yaml`: validate, run end to end, print the verdict.

Exit codes: 0 every bound held, 1 a bound failed, 2 bad experiment or usage
(nothing is started), 3 the run itself broke or was interrupted.
"""

from __future__ import annotations

import signal
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
    rep = result.checks  # a chaoskit.report.checks.CheckReport, None when not judged
    if rep is not None:
        # Every check of the checks: section, passed or not, as the HTML report shows.
        for c in rep.results:
            mark = "[green]PASS[/]" if c.passed else "[red]FAIL[/]"
            t.add_row(f"check {c.check}", f"{mark} {escape(c.message)}")
        lin = rep.linearizability
        if lin and "verdict" in lin and not any(c.check == "linearizable" for c in rep.results):
            t.add_row("linearizable", str(lin["verdict"]))
        sc = rep.scorecard
        for r in sc.rows:
            if not (r.phase in ("before", "after") or r.phase.startswith("during:")):
                continue
            region = "all regions" if r.region in ("*", "all") else r.region
            rate, p99 = r.stats.success_rate, r.stats.p99_ms
            t.add_row(
                # escaped: a label like "partition [[xian]]" is not rich markup
                escape(f"{region} {r.label}"),
                f"{r.stats.requests} requests, "
                + (f"{rate:.0%} ok" if rate is not None else "no requests")
                + (f", p99 {p99:.0f} ms" if p99 is not None else ""),
            )
        for r in sc.rto:
            t.add_row(
                escape(f"RTO {r.region} after {r.fault} {r.kind}"),
                r.display,
            )
        for e in rep.node_exits:
            t.add_row(
                escape(f"node {e.get('node')} exited"),
                escape(
                    f"at {e.get('time', 0) / 1e9:.1f} s, {e.get('how')}, no fault covered it; "
                    f"log {e.get('log')}"
                ),
            )
        age = sc.lost_oldest_age_s
        t.add_row(
            "lost writes (RPO)", f"{sc.lost_count}" + (f", oldest {age:.1f} s" if age else "")
        )
    if result.error:
        t.add_row("error", escape(result.error))
    for k, v in result.timings.items():
        # engine phase timings are keyed like "nodes_ready_s"
        t.add_row("time: " + k.removesuffix("_s").replace("_", " "), f"{v:.2f} s")
    if result.teardown is not None:
        t.add_row("teardown", escape(result.teardown.summary()))
    t.add_row("results", str(result.run_dir))
    console.print(t)


def _engines(text: str, experiment: Any, backend: str | None, err: Console) -> Any:
    """--engines parsed against the topology; exit 2 with the reason when it is wrong."""
    from chaoskit.backends.docker.engines import EnginesError, parse_engines

    if (backend or experiment.backend) != "docker":
        err.print("--engines: needs the docker backend (--backend docker)", markup=False)
        sys.exit(EXIT_USAGE)
    try:
        return parse_engines(text, experiment.topology.region_names)
    except EnginesError as e:
        err.print(str(e), markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)


def _absorb_signal(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM outside the run's own handling: the run has answered already."""


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
@click.option(
    "--engines",
    default=None,
    metavar="REGION=URL,...|FILE",
    help="docker backend: put regions on other Docker engines (unix://, tcp://, ssh:// or a "
    "docker context; or a YAML file region -> URL); others stay on the default engine.",
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
    engines: str | None,
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
    engine_map = _engines(engines, experiment, backend, err) if engines else None
    # The run takes SIGINT/SIGTERM over while it goes and gives them back when it has
    # answered one; what it gives back absorbs the rest of a Ctrl-C burst (the hurrying
    # second one arriving as the run ends) instead of turning the result into
    # "Aborted!" or a traceback. A Python handler: started processes get the default.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _absorb_signal)
    result = run_experiment(
        experiment,
        results_root,
        backend=backend,
        metrics_port=metrics_port,
        workers=workers,
        remote=RemoteWorkers(remote_workers, master_bind, master_port, worker_wait),
        quiet=quiet,
        console=console,
        engines=engine_map,
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
    if quiet and result.teardown is not None and not result.teardown.complete:
        err.print(result.teardown.summary(), markup=False, highlight=False, soft_wrap=True)
    # The results directory is the last line on stdout: scripts can pick it up.
    if result.run_dir is not None:
        click.echo(str(result.run_dir))
    sys.exit(result.exit_code)
