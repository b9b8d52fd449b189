"""`chaoskit export chaos-mesh EXPERIMENT.yaml` and `chaoskit export events RUN_DIR`."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import click
import yaml

from chaoskit.experiment.options import set_option

CRDS_ENV = "CHAOSKIT_CHAOS_MESH_CRDS"


@click.group("export")
def export() -> None:
    """Write an experiment as another tool's input (Kubernetes + Chaos Mesh)."""


def _pairs(text: str, what: str, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"{item!r}: expected {what}", param_hint=option)
        out[key] = value
    return out


@export.command("chaos-mesh")
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory (default: k8s/<experiment name>).",
)
@click.option(
    "--selector",
    required=True,
    metavar="KEY=VALUE[,...]",
    help="Labels of the system's pods, e.g. app=etcd.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=NUMBER",
    help="Container port of each of the system's ports, e.g. --port client=2379 --port peer=2380.",
)
@click.option("--namespace", default="default", show_default=True)
@click.option(
    "--image",
    default="chaoskit-node:latest",
    show_default=True,
    help="Image with chaoskit installed, for the Locust master and workers.",
)
@click.option(
    "--data-path",
    default=None,
    metavar="PATH",
    help="The node's data directory inside its pod, e.g. /var/lib/etcd: the volume the "
    "disk faults (IOChaos) act on. Required when the schedule has a disk fault.",
)
@click.option(
    "--crds",
    "crds",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help=f"Also validate against these published CRD files/directories (env {CRDS_ENV}).",
)
@set_option
def chaos_mesh(
    experiment: str,
    out: Path | None,
    selector: str,
    ports: tuple[str, ...],
    namespace: str,
    image: str,
    data_path: str | None,
    crds: tuple[Path, ...],
    overrides: tuple[str, ...],
) -> None:
    """Write EXPERIMENT as Kubernetes manifests for Chaos Mesh v2.6.

    Files: label-pods.sh (region/zone/node labels on the selected pods),
    topology.yaml (a Service per node), latency.yaml (NetworkChaos delay per
    region pair), workflow.yaml (the schedule), locust.yaml (the load).
    A fault without a Chaos Mesh equivalent is an error naming it (exit 2).
    """
    from chaoskit.experiment import ExperimentError, load_experiment
    from chaoskit.export.chaos_mesh import ChaosMeshOptions, ExportError, export_chaos_mesh
    from chaoskit.export.validate import validate_manifests

    try:
        exp = load_experiment(experiment, list(overrides))
        port_map: dict[str, int] = {}
        for name, number in _pairs(",".join(ports), "NAME=NUMBER", "--port").items():
            if not number.isdigit() or not 1 <= int(number) <= 65535:
                raise ExportError(f"--port {name}={number}: the number must be 1..65535")
            port_map[name] = int(number)
        opts = ChaosMeshOptions(
            selector=_pairs(selector, "KEY=VALUE", "--selector"),
            ports=port_map,
            namespace=namespace,
            image=image,
            data_path=data_path,
        )
        result = export_chaos_mesh(exp, opts)
    except ExperimentError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    except ExportError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    crd_paths = list(crds) + [Path(p) for p in os.environ.get(CRDS_ENV, "").split(":") if p]
    problems: list[str] = []
    try:
        problems = validate_manifests(result.objects(), crd_paths)
    except ImportError:
        click.echo("note: jsonschema is not installed; manifests not validated", err=True)
    if problems:
        click.echo("the manifests do not validate:\n  " + "\n  ".join(problems), err=True)
        sys.exit(3)
    target = out or Path("k8s") / result.name
    target.mkdir(parents=True, exist_ok=True)
    for name, docs in result.manifests.items():
        (target / name).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    for name, text in result.texts.items():
        (target / name).write_text(text, encoding="utf-8")
        if name.endswith(".sh"):
            (target / name).chmod(0o755)
    counts = ", ".join(f"{n} ({len(d)})" for n, d in result.manifests.items())
    click.echo(f"wrote {target}: {', '.join(result.texts)}, {counts}", err=True)
    click.echo(str(target))


@export.command("events")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--workflow-start",
    required=True,
    metavar="ISO8601",
    help="When the Chaos Mesh workflow started (its .status.startTime).",
)
def events(run_dir: Path, workflow_start: str) -> None:
    """Add the workflow's fault events to an exported run's events.jsonl.

    RUN_DIR is the /results directory copied from the Locust master pod.
    """
    from chaoskit.export.events import complete_run

    try:
        start = datetime.fromisoformat(workflow_start)
    except ValueError:
        raise click.BadParameter(
            f"{workflow_start!r} is not an ISO 8601 time such as 2026-01-01T12:00:00Z",
            param_hint="--workflow-start",
        ) from None
    if start.tzinfo is None:
        raise click.BadParameter(
            "give a time zone (e.g. a trailing Z)", param_hint="--workflow-start"
        )
    missing = [
        f for f in ("schedule.json", "clock.json", "events.jsonl") if not (run_dir / f).exists()
    ]
    if missing:
        click.echo(
            f"error: {run_dir}: missing {', '.join(missing)} (not an exported run?)", err=True
        )
        sys.exit(2)
    n = complete_run(run_dir, start)
    click.echo(f"{run_dir / 'events.jsonl'}: {n} fault events added", err=True)
