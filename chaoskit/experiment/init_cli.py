"""`chaoskit init [FILE]`: write a commented starter experiment (valid as written)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click

from chaoskit import systems
from chaoskit.atomic import atomic_write_text
from chaoskit.experiment import ExperimentError, load_experiment_text
from chaoskit.topology import geo

TEMPLATE = """\
# A chaoskit experiment. Every field is described in docs/experiment.md;
# check it with: chaoskit validate {file}   and run it with: chaoskit run {file}
name: {name}
description: >
{description}
backend: {backend}{backend_comment}
seed: 1                   # random targets and the random nemesis replay from it

topology:
  regions:                # region -> geo location + zones (data centres) with node counts
{regions}
  clients: {clients}              # load users per region (or a mapping region -> count)
  # latency comes from the geo model (chaoskit latency {locs}); override a pair:
  # latency: {{{first}-{second}: {{rtt: 30ms, jitter: 2ms}}}}

{system}

load:
  workload: {workload}      # {workloads}
  keys: 8
  duration: {duration}
  rate: {rate}             # total over all regions (or rate_per_region)
  read_ratio: 0.5
  timeout: {timeout}             # client timeout: a timed-out op is "info" (may have happened)

schedule:                 # times from the start of the load
  - {schedule}
  # - {{at: 5s, for: 5s, fault: kill, target: random-node}}
  # - sequence: [{{wait: 5s}}, {{fault: pause, target: {{region: {second}}}, for: 3s}}]
  # - random: {{faults: [{{fault: kill, target: random-node}}], interval: 8s, for: 3s}}

checks:
{checks}
"""
DEFAULT_SCHEDULE = "{{at: 10s, for: 10s, fault: cut-region, region: {first}}}"
DEFAULT_CHECKS = """\
  linearizable: true
  rto: {{region: {first}, max: 10s}}
  availability: {{region: {second}, phase: during, min: 0.9}}"""
# Placeholder regions for asking an adapter whether it offers a starter at all.
_PROBE_REGIONS = ["region-a", "region-b", "region-c"]


def offered() -> dict[str, tuple[str, str]]:
    """`--system` names -> (kind, variant): every registered kind whose adapter
    offers a starter, and KIND-VARIANT for each of its variants. A kind whose
    adapter cannot be imported is left out (`chaoskit systems` says why)."""
    out: dict[str, tuple[str, str]] = {}
    for kind in systems.known_kinds():
        try:
            adapter = systems.get_adapter(kind)
        except ImportError:
            continue
        for variant in ["", *adapter.starter_variants]:
            if adapter.starter(_PROBE_REGIONS, 1, variant) is not None:
                out[f"{kind}-{variant}" if variant else kind] = (kind, variant)
    return out


def render(path: Path, locations: list[str], system: str = "geokv", nodes: int = 1) -> str:
    names = [geo.resolve(loc).name for loc in locations]
    regions = "\n".join(f"    {n}: {{location: {n}, zones: {{{n}-dc1: {nodes}}}}}" for n in names)
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.stem) or "experiment"
    kind, variant = offered()[system]
    adapter = systems.get_adapter(kind)
    sy = adapter.starter(names, nodes, variant)
    if sy is None:
        raise ValueError(f"the {kind} adapter offers no starter for regions {names}")
    description = textwrap.fill(
        f"{names[0]} loses its network for a while under load. {sy.about} Is the "
        f"history still linearizable, and how fast does {names[0]} recover?",
        width=88,
        initial_indent="  ",
        subsequent_indent="  ",
    )
    places = {"first": names[0], "second": names[1]}
    return TEMPLATE.format(
        file=path, name=stem, regions=regions, locs=" ".join(names), **places,
        description=description, backend=sy.backend,
        backend_comment=" " * max(1, 17 - len(sy.backend)) + sy.backend_comment,
        clients=sy.clients, system=sy.system, workload=sy.workload,
        workloads=f"{kind} serves: {' | '.join(adapter.workloads)}",
        duration=sy.duration, rate=sy.rate, timeout=sy.timeout,
        schedule=sy.schedule or DEFAULT_SCHEDULE.format(**places),
        checks=sy.checks or DEFAULT_CHECKS.format(**places),
    )  # fmt: skip


@click.command()
@click.argument("file", default="experiment.yaml", type=click.Path(dir_okay=False))
@click.option(
    "--regions",
    default="beijing,shanghai,xian",
    show_default=True,
    help="Comma-separated geo locations, one region (of one node) each; at least 3 for a quorum.",
)
@click.option(
    "--system",
    default="geokv",
    show_default=True,
    help="The system under test: any registered kind whose adapter offers a starter "
    "(`chaoskit systems` lists the kinds), or KIND-VARIANT, e.g. geokv-lww "
    "(active-active) or geokv-unit (home regions). An unknown name lists the valid ones.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="Nodes per region (in one zone).",
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def init(file: str, regions: str, system: str, nodes: int, force: bool) -> None:
    """Write a commented starter experiment to FILE (default experiment.yaml)
    for a chosen system and topology; it validates as written.

    \b
    Examples:
      chaoskit init
      chaoskit init global.yaml --regions us-east,eu-west,ap-northeast --system geokv-lww
      chaoskit init etcd.yaml --system etcd --nodes 1 --regions us-east,eu-west,tokyo
    """
    path = Path(file)
    choices = offered()
    if system not in choices:
        raise click.BadParameter(
            f"no starter for system {system!r}; valid: {', '.join(sorted(choices))}",
            param_hint="'--system'",
        )
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
    text = render(path, locations, system, nodes)
    try:  # the starter must be valid as written
        load_experiment_text(text, name=str(path))
    except ExperimentError as e:  # pragma: no cover - a template bug
        raise click.ClickException(f"internal error, the starter is invalid:\n{e}") from e
    # atomic: a half-written file never replaces a good one (and the file is 0644,
    # not mkstemp's 0600)
    atomic_write_text(path, text)
    click.echo(f"wrote {path}; check it with: chaoskit validate {path}")
