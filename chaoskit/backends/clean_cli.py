"""`chaoskit clean`: remove what chaoskit runs left behind.

Docker: every container, network and volume labelled `chaoskit=1` (runs whose
harness process is still alive are spared unless --force). Local backend: the
processes of runs whose harness is gone (chaoskit.backends.local.cleanup_local_leftovers).
`--run ID` limits both to one run: the command a teardown that could not remove
everything prints.
Images are a build cache and stay (`docker image prune` or `docker rmi` them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import click

from chaoskit.backends.docker.backend import short_run_id
from chaoskit.backends.docker.labels import LABEL, PID_LABEL, RUN_LABEL
from chaoskit.backends.docker.teardown import remove_network

NETWORK_REMOVAL_S = 20.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid_text: str | None) -> bool:
    try:
        pid = int(pid_text or "")
    except ValueError:
        return False
    return pid != os.getpid() and pid_alive(pid)


def clean_docker(
    run_id: str | None = None, force: bool = False, client: object = None
) -> tuple[dict[str, int], list[str]]:
    """Remove chaoskit's docker resources from one engine (default: the default engine);
    returns (removed counts, spared run ids)."""
    from chaoskit.backends.docker.image import docker_client

    client = client or docker_client()
    flt = f"{RUN_LABEL}={run_id}" if run_id else f"{LABEL}=1"
    counts = {"containers": 0, "networks": 0, "volumes": 0}
    spared: set[str] = set()

    removed_runs: set[str] = set()

    def keep(lbls: dict[str, str] | None) -> bool:
        lbls = lbls or {}
        if not force and _alive(lbls.get(PID_LABEL)):
            spared.add(lbls.get(RUN_LABEL, "?"))
            return True
        if lbls.get(RUN_LABEL):
            removed_runs.add(lbls[RUN_LABEL])
        return False

    for c in client.containers.list(all=True, filters={"label": flt}, ignore_removed=True):
        if keep(c.labels):
            continue
        with contextlib.suppress(Exception):
            c.remove(force=True, v=True)
            counts["containers"] += 1
    for n in client.networks.list(filters={"label": flt}):
        if keep(n.attrs.get("Labels")):
            continue
        with contextlib.suppress(Exception):
            remove_network(n, NETWORK_REMOVAL_S)  # endpoints still attached: disconnected
            counts["networks"] += 1
    for v in client.volumes.list(filters={"label": flt}):
        if keep(v.attrs.get("Labels")):
            continue
        with contextlib.suppress(Exception):
            v.remove(force=True)
            counts["volumes"] += 1
    # The work directories (node data, clock files) of the runs just removed: a
    # harness killed outright could not delete its own.
    counts["workdirs"] = 0
    for rid in removed_runs - spared:
        for d in Path(tempfile.gettempdir()).glob(f"chaoskit-docker-{short_run_id(rid)}-*"):
            shutil.rmtree(d, ignore_errors=True)
            counts["workdirs"] += 1
    return counts, sorted(spared)


@click.command()
@click.option("--run", "run_id", default=None, help="Only this run id (label chaoskit.run).")
@click.option("--force", is_flag=True, help="Also remove runs whose harness is still alive.")
@click.option(
    "--engines",
    default=None,
    metavar="URL,...",
    help="Also clean these Docker engines (unix://, tcp://, ssh:// URLs or contexts; "
    "REGION=URL items as given to `chaoskit run --engines` work too).",
)
def clean(run_id: str | None, force: bool, engines: str | None) -> None:
    """Remove every chaoskit container, network, volume and local leftover."""
    for url in _engine_urls(engines):
        _clean_engine(url, run_id, force)
    _clean_engine(None, run_id, force)
    from chaoskit.backends.local import cleanup_local_leftovers

    done = cleanup_local_leftovers(force=force, run_id=run_id)
    click.echo(f"local: {len(done)} leftover process(es) stopped")
    for line in done:
        click.echo(f"  {line}")


def _engine_urls(text: str | None) -> list[str]:
    """Engine URLs of --engines (a REGION=URL item counts by its URL)."""
    from chaoskit.backends.docker.engines import EnginesError, resolve_engine

    out: list[str] = []
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        value = item.split("=", 1)[1] if "=" in item else item
        try:
            url = resolve_engine(value, f"--engines {item}").url
        except EnginesError as e:
            raise click.BadParameter(str(e), param_hint="--engines") from None
        if url and url not in out:
            out.append(url)
    return out


def _clean_engine(url: str | None, run_id: str | None, force: bool) -> None:
    """Clean one engine (None: the default one) and say what went."""
    from chaoskit.backends.docker.engines import EnginesError, engine_client
    from chaoskit.backends.docker.image import ImageError

    label = f"docker {url}" if url else "docker"
    try:
        client = engine_client(url) if url else None
        counts, spared = clean_docker(run_id, force, client)
        click.echo(
            f"{label}: removed {counts['containers']} container(s), {counts['networks']} "
            f"network(s), {counts['volumes']} volume(s), {counts['workdirs']} work dir(s)"
        )
        if spared:
            click.echo(
                f"{label}: spared run(s) still running: {', '.join(spared)} (--force removes them)"
            )
    except (ImageError, EnginesError) as e:
        click.echo(f"{label}: skipped ({e})")
