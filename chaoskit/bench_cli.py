"""`chaoskit bench`: the quick benchmarks of a source checkout, one table of ratios.

The benchmarks live in the checkout's benchmarks/ directory (not in the installed
package): this command runs `python -m benchmarks` there with the same options.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

AREAS = ("checker", "load", "links", "topology")


@click.command(name="bench")
@click.option(
    "--porcupine",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    default=None,
    help="Porcupine's test binary (go test -c in its source, which holds test_data/): "
    "the checker rows then compare with it.",
)
@click.option(
    "--histories",
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    default=None,
    help="The reference histories (default: $CHAOSKIT_REFERENCE_HISTORIES, else "
    "shared/reference-histories beside the checkout).",
)
@click.option(
    "--only",
    default=",".join(AREAS),
    show_default=True,
    help="Comma-separated areas to run.",
)
@click.option("--smoke", is_flag=True, help="Smallest sizes: checks the table, measures little.")
def bench(porcupine: str | None, histories: str | None, only: str, smoke: bool) -> None:
    """Run the quick benchmarks: one table of ratios against baselines measured in
    the same run (checker vs Porcupine, load vs bare clients, links vs direct,
    topology setup per node). Needs a source checkout (benchmarks/)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise click.ClickException(
            f"no benchmarks/ beside the chaoskit package ({root}): `chaoskit bench` needs a "
            "source checkout (git clone ..., pip install -e .)"
        )
    argv = [sys.executable, "-m", "benchmarks", "--only", only]
    if porcupine:
        argv += ["--porcupine", porcupine]
    if histories:
        argv += ["--histories", histories]
    if smoke:
        argv.append("--smoke")
    sys.exit(subprocess.call(argv, cwd=root))
