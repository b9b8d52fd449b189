"""Command-line options shared by the commands that take an experiment file (`run`,
`validate`, `gameday`): one definition, so their names, metavars and help agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

set_option: Callable[[F], F] = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a field (value parsed as YAML); repeatable, e.g. --set load.duration=10s "
    "--set schedule.0.for=5s.",
)

results_option: Callable[[F], F] = click.option(
    "--results",
    "results_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Results root directory (a run goes to RESULTS/<experiment>/<UTC timestamp>).",
)

backend_option: Callable[[F], F] = click.option(
    "--backend",
    type=click.Choice(["local", "docker"]),
    default=None,
    help="Override the experiment's backend.",
)

workers_option: Callable[[F], F] = click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Locust worker processes (0 = in-process; default: the experiment's load.workers). "
    "With workers, Locust's master serves the web UI.",
)

faketime_option: Callable[[F], F] = click.option(
    "--libfaketime-dir",
    "faketime_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Where to look for libfaketime.so.1, needed only by clock faults on the local "
    "backend (default: /usr/lib/*/faketime/).",
)
