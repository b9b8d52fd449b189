"""`chaoskit validate FILE... [--set path=value ...]`: check experiments without running them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chaoskit.experiment import ExperimentError, load_experiment
from chaoskit.experiment.host import host_problems
from chaoskit.experiment.options import faketime_option, set_option


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@set_option
@faketime_option
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
def validate(
    files: tuple[str, ...], overrides: tuple[str, ...], faketime_root: Path | None, quiet: bool
) -> None:
    """Check experiment YAML FILES; exit 0 when all are valid, 2 when any is not.

    Every problem is printed as FILE:LINE: FIELD: what is wrong and what would be valid.
    Also checked: what the experiment needs from this host (libfaketime for clock faults
    on the local backend).
    """
    bad = 0
    for f in files:
        try:
            exp = load_experiment(f, list(overrides))
            problems = host_problems(exp, faketime_root=faketime_root)
            if problems:
                raise ExperimentError(problems)
        except ExperimentError as e:
            bad += 1
            click.echo(str(e), err=True)
            continue
        for w in exp.warnings:
            click.echo(str(w), err=True)
        if not quiet:
            t = exp.topology
            faults = len(exp.all_faults())
            click.echo(
                f"{f}: ok -- {exp.name}: {len(t.regions)} regions, {len(t.nodes)} nodes, "
                f"{sum(t.clients.values())} clients, system {exp.system.kind}, "
                f"{exp.load.workload} for {exp.load.duration_s:g}s, {faults} fault{'s' if faults != 1 else ''}"
            )
    if bad:
        sys.exit(2)
