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
{description}
backend: {backend}{backend_comment}
seed: 1                   # random targets and the random nemesis replay from it

topology:
  regions:                # region -> geo location + zones (data centres) with node counts
{regions}
  clients: 2              # load users per region (or a mapping region -> count)
  # latency comes from the geo model (chaoskit latency {locs}); override a pair:
  # latency: {{{first}-{second}: {{rtt: 30ms, jitter: 2ms}}}}

{system}

load:
  workload: register      # register | cas-register | set
  keys: 8
  duration: 30s
  rate: 100/s             # total over all regions (or rate_per_region)
  read_ratio: 0.5
  timeout: {timeout}             # client timeout: a timed-out op is "info" (may have happened)

schedule:                 # times from the start of the load
  - {{at: 10s, for: 10s, fault: cut-region, region: {first}}}
  # - {{at: 5s, for: 5s, fault: kill, target: random-node}}
  # - sequence: [{{wait: 5s}}, {{fault: pause, target: {{region: {second}}}, for: 3s}}]
  # - random: {{faults: [{{fault: kill, target: random-node}}], interval: 8s, for: 3s}}

checks:
{linearizable}
  rto: {{region: {first}, max: 10s}}
  availability: {{region: {second}, phase: during, min: 0.9}}
"""


# The systems a starter can be written for: what changes between them.
SYSTEMS: dict[str, dict[str, str]] = {
    "geokv": {
        "system": "system: {kind: geokv, mode: quorum}   # geokv modes: quorum | lww | unit",
        "backend": "local",
        "timeout": "1s",
        "about": "The nodes agree by majority quorums, so the other regions keep serving.",
        "linearizable": "  linearizable: true",
    },
    "geokv-lww": {
        "system": "system: {kind: geokv, mode: lww}      # active-active, last writer wins",
        "backend": "local",
        "timeout": "1s",
        "about": "Every region keeps accepting writes (active-active, last writer wins): "
        "availability stays high, but writes from the two sides conflict.",
        # LWW is not linearizable under a cut: asking for it makes the run fail (by
        # design), so the starter leaves it commented out with the reason.
        "linearizable": "  # linearizable: true    # LWW loses updates under a cut: uncomment to "
        "see the checker's counterexample",
    },
    "geokv-unit": {
        "system": "system: {kind: geokv, mode: unit}     # every key has a home region "
        "(homes: {key: region} to choose)",
        "backend": "local",
        "timeout": "1s",
        "about": "Every key lives in its home region (unitised), so only the keys whose "
        "home is cut off become unavailable.",
        "linearizable": "  linearizable: true",
    },
    "generic": {
        # A server of your own, described in YAML (docs/systems.md); the starter runs
        # geokv this way: replace the command, ports, ready probe and client.
        "system": "system:                                # your own server: docs/systems.md\n"
        "  kind: generic\n"
        "  ports: [http]                          # named ports; links are made per port\n"
        '  command: [python3, -m, chaoskit.systems.geokv, --id, "{name}", --region, '
        '"{region}",\n'
        '            --listen, "{listen.http}", --data-dir, "{data_dir}",\n'
        '            {each_peer: [--peer, "{peer}={peer_region}@{peer_addr.http}"]}]\n'
        "  ready: {http: {port: http, path: /health, status: 200}, deadline: 20s}\n"
        "  client:                                # http | command | redis | sql\n"
        "    protocol: http\n"
        '    read: {method: POST, path: /op, body: \'{"f": "read", "key": {key}}\', '
        'value: "json:value"}\n'
        "    write: {method: POST, path: /op, "
        'body: \'{"f": "write", "key": {key}, "value": {value}}\'}',
        "backend": "local",
        "timeout": "1s",
        "about": "A server described only in YAML (here geokv with majority quorums): "
        "the other regions keep serving.",
        "linearizable": "  linearizable: true",
    },
    "etcd": {
        "system": "system: {kind: etcd}                  # Debian's etcd-server; "
        "leader_region: REGION places the leader",
        "backend": "docker",
        "timeout": "3s",
        "about": "etcd's raft majority keeps serving outside the cut region.",
        "linearizable": "  linearizable: true",
    },
}
BACKEND_COMMENTS = {
    "local": "            # local (processes on loopback) | docker",
    "docker": "           # etcd needs docker: `dockerd &` then `chaoskit image build` once",
}


def render(path: Path, locations: list[str], system: str = "geokv", nodes: int = 1) -> str:
    names = [geo.resolve(loc).name for loc in locations]
    regions = "\n".join(f"    {n}: {{location: {n}, zones: {{{n}-dc1: {nodes}}}}}" for n in names)
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in path.stem) or "experiment"
    sy = SYSTEMS[system]
    description = (
        f"  {names[0]} loses its network for a while under load.\n  {sy['about']}\n"
        f"  Is the history still linearizable, and how fast does {names[0]} recover?"
    )
    return TEMPLATE.format(
        file=path, name=stem, regions=regions, first=names[0], second=names[1],
        locs=" ".join(names), description=description, backend=sy["backend"],
        backend_comment=BACKEND_COMMENTS[sy["backend"]], system=sy["system"],
        timeout=sy["timeout"], linearizable=sy["linearizable"],
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
    type=click.Choice(sorted(SYSTEMS)),
    default="geokv",
    show_default=True,
    help="The system under test: geokv with majority quorums, geokv active-active (lww), "
    "geokv with home regions (unit), real etcd (docker backend), or a server described "
    "in YAML (generic). Other kinds (`chaoskit systems`) start from their shipped "
    "experiment in experiments/.",
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
