"""`chaoskit gameday EXPERIMENT.yaml`: load under Locust's web UI, a chaoskit panel
in it, faults applied and healed live; the end checks and reports like `chaoskit run`.

Exit codes as `chaoskit run`: 0 every bound held, 1 a bound failed, 2 bad
experiment or usage (nothing started), 3 the run broke or was interrupted.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click

from chaoskit.experiment.options import (
    backend_option,
    results_option,
    set_option,
    workers_option,
)

EXIT_USAGE = 2


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("gameday")
@click.argument("experiment_file", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@results_option
@backend_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address of the web UI. Any non-loopback address requires --login.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8089,
    show_default=True,
    help="Web UI port (0 = any free port).",
)
@click.option(
    "--login",
    "login",
    default=None,
    metavar="USER:PASSWORD",
    envvar="CHAOSKIT_GAMEDAY_LOGIN",
    help="Require Locust's web login (also from $CHAOSKIT_GAMEDAY_LOGIN, which keeps it out of `ps`).",
)
@click.option(
    "--duration",
    default="4h",
    show_default=True,
    help="Upper bound of the game day's load (e.g. 90m); it normally ends by hand.",
)
@click.option(
    "--schedule/--no-schedule",
    "run_schedule",
    default=False,
    show_default=True,
    help="Also run the experiment's own fault schedule on the load's clock.",
)
@workers_option
def gameday(
    experiment_file: Path,
    overrides: tuple[str, ...],
    results_root: Path,
    backend: str | None,
    host: str,
    port: int,
    login: str | None,
    duration: str,
    run_schedule: bool,
    workers: int | None,
) -> None:
    """Bring EXPERIMENT_FILE's topology up and run its load under Locust's web UI,
    with a chaoskit panel at /chaoskit to apply and heal faults. The terminal takes
    the same actions: `apply cut-region region=beijing`, `heal g1`, `heal all`,
    `status`, `end`. Ending (panel button, `end`, Ctrl-C) heals everything, then
    checks and reports exactly as `chaoskit run` does."""
    from chaoskit.experiment import ExperimentError, load_experiment
    from chaoskit.gameday.gameday import GameDay, WebUIError
    from chaoskit.gameday.live import LiveError

    def usage(msg: str) -> None:
        click.echo(msg, err=True)
        sys.exit(EXIT_USAGE)

    if not experiment_file.exists():
        usage(f"{experiment_file}: no such file")
    if not 0 <= port < 65536:
        usage(f"--port: {port} is not a TCP port (0 = any free port)")
    if login is not None:
        user, sep, pw = login.partition(":")
        if not sep or not user or not pw:
            usage("--login: expected USER:PASSWORD, both non-empty")
    if not _is_loopback(host) and not login:
        usage(
            f"--host {host}: the web UI applies faults, so listening beyond this machine "
            "needs a login: add --login USER:PASSWORD (or set CHAOSKIT_GAMEDAY_LOGIN)"
        )
    from chaoskit.units import parse_duration

    try:
        duration_s = parse_duration(duration)
    except ValueError as e:
        usage(f"--duration: {e}")
    if duration_s <= 0:
        usage("--duration: must be longer than 0s")
    try:
        experiment = load_experiment(experiment_file, list(overrides))
        if run_schedule:  # its clock faults need libfaketime here (chaoskit run's check)
            from chaoskit.experiment.host import host_problems

            if problems := host_problems(experiment, backend):
                raise ExperimentError(problems)
    except ExperimentError as e:
        usage(str(e))
    for w in getattr(experiment, "warnings", []) or []:
        click.echo(str(w), err=True)
    gd = GameDay(
        experiment,
        results_root,
        backend=backend,
        host=host,
        port=port,
        auth=login,
        duration_s=duration_s,
        run_schedule=run_schedule,
        workers=workers,
    )
    interactive = sys.stdin is not None and sys.stdin.isatty()
    try:
        result = gd.run(stdin=sys.stdin, interactive=interactive)
    except LiveError as e:  # e.g. the system cannot run on this backend: nothing left running
        usage(f"{experiment_file}: {e}")
        return
    except WebUIError as e:  # everything started was torn down again
        usage(f"--port/--host: {e}")
        return
    except Exception as e:
        click.echo(f"the game day broke: {type(e).__name__}: {e}", err=True)
        sys.exit(3)
    verdict = {0: "PASSED (every bound held)", 1: "FAILED (a bound failed)"}.get(
        result.exit_code, "BROKEN (the run did not complete)"
    )
    click.echo(f"game day {experiment.name}: {verdict}", err=True)
    for f in result.failures:
        click.echo(f"  bound failed: {f}", err=True)
    if result.error:
        click.echo(f"  error: {result.error}", err=True)
    if result.run_dir is not None:
        click.echo(f"  report: {result.run_dir / 'report.html'}", err=True)
        click.echo(str(result.run_dir))
    sys.stdout.flush()
    sys.exit(result.exit_code)
