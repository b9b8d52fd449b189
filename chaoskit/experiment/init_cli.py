"""`chaoskit init [FILE]`: write a commented starter experiment (valid as written)."""

from __future__ import annotations

from pathlib import Path

import click

from chaoskit.atomic import atomic_write_text
from chaoskit.experiment import ExperimentError, load_experiment_text
from chaoskit.topology import geo

TEMPLATE = """\
# A chaoskit experiment. Every field is described in docs/experiment.md;
# check it with: chaoskit validate {file}   and run it with: chaoskit run {file}
name: {name}
description: >
  {first} loses its network for a while under load; the other regions keep a
  quorum. Is the history still linearizable, and how fast does {first} recover?
backend: local            # local (processes on loopback) | docker
seed: 1                   # random targets and the random nemesis replay from it

topology:
  regions:                # region -> geo location + zones (data centres) with node counts
{regions}
  clients: 2              # load users per region (or a mapping region -> count)
  # latency comes from the geo model (chaoskit latency {locs}); override a pair:
  # latency: {{{first}-{second}: {{rtt: 30ms, jitter: 2ms}}}}

system: {{kind: geokv, mode: quorum}}   # geokv modes: quorum | lww | unit

load:
  workload: register      # register | cas-register | set
  keys: 8
  duration: 30s
  rate: 100/s             # total over all regions (or rate_per_region)
  read_ratio: 0.5
  timeout: 1s             # client timeout: a timed-out op is "info" (may have happened)

schedule:                 # times from the start of the load
  - {{at: 10s, for: 10s, fault: cut-region, region: {first}}}
  # - {{at: 5s, for: 5s, fault: kill, target: random-node}}
  # - sequence: [{{wait: 5s}}, {{fault: pause, target: {{region: {second}}}, for: 3s}}]
  # - random: {{faults: [{{fault: kill, target: random-node}}], interval: 8s, for: 3s}}

checks:
  linearizable: true
  rto: {{region: {first}, max: 10s}}
  availability: {{region: {second}, phase: during, min: 0.9}}
"""


def render(path: Path, locations: list[str]) -> str:
    regions = "\n".join(
        f"    {geo.resolve(loc).name}: {{location: {geo.resolve(loc).name}, zones: {{{geo.resolve(loc).name}-dc1: 1}}}}"
        for loc in locations
    )
    names = [geo.resolve(loc).name for loc in locations]
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.stem) or "experiment"
    return TEMPLATE.format(
        file=path, name=stem, regions=regions, first=names[0], second=names[1], locs=" ".join(names)
    )


@click.command()
@click.argument("file", default="experiment.yaml", type=click.Path(dir_okay=False))
@click.option(
    "--regions",
    default="beijing,shanghai,xian",
    show_default=True,
    help="Comma-separated geo locations, one region (of one node) each; at least 3 for a quorum.",
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def init(file: str, regions: str, force: bool) -> None:
    """Write a commented starter experiment to FILE (default experiment.yaml)."""
    path = Path(file)
    locations = [r.strip() for r in regions.split(",") if r.strip()]
    if len(locations) < 2:
        raise click.UsageError("--regions needs at least two locations, e.g. beijing,shanghai,xian")
    try:
        names = [geo.resolve(loc).name for loc in locations]
    except geo.UnknownLocationError as e:
        raise click.UsageError(str(e)) from e
    if len(set(names)) != len(names):
        raise click.UsageError(f"--regions names the same location twice: {', '.join(names)}")
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; use --force to overwrite it")
    text = render(path, locations)
    try:  # the starter must be valid as written
        load_experiment_text(text, name=str(path))
    except ExperimentError as e:  # pragma: no cover - a template bug
        raise click.ClickException(f"internal error, the starter is invalid:\n{e}") from e
    # atomic: a half-written file never replaces a good one (and the file is 0644,
    # not mkstemp's 0600)
    atomic_write_text(path, text)
    click.echo(f"wrote {path}; check it with: chaoskit validate {path}")
