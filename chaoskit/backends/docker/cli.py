"""`chaoskit image build` and `chaoskit compose` (docs/docker.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def image() -> None:
    """The node image (python3, aiohttp, libfaketime, etcd, chaoskit's code)."""


@image.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the cached image matches.")
@click.option(
    "--offline",
    is_flag=True,
    help="Do not try to pull debian:bookworm-slim; build the base with debootstrap.",
)
@click.option("--prune", is_flag=True, help="Remove older chaoskit-node images afterwards.")
@click.option(
    "--packages",
    multiple=True,
    metavar="PKG[,PKG...]",
    help="Extra Debian packages: also build an image FROM the node image (or --from) with "
    "them, and print its tag (what a system's `packages:` runs). Repeatable.",
)
@click.option(
    "--from",
    "from_image",
    default=None,
    metavar="IMAGE",
    help="With --packages: add them to this image instead of the node image.",
)
def build(
    force: bool, offline: bool, prune: bool, packages: tuple[str, ...], from_image: str | None
) -> None:
    """Build the node image, offline if no registry answers (cached by content hash).

    \b
    Examples:
      chaoskit image build
      chaoskit image build --packages memcached         # node image + memcached
    """
    from chaoskit.backends.docker.image import ImageError, ensure_image, prune_old_node_images

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    try:
        res = ensure_image(force=force, offline=offline or None, log=log)
    except ImageError as e:
        click.echo(f"chaoskit image build: {e}", err=True)
        sys.exit(1)
    how = "built" if res.built else "cached"
    extra = f" from {res.base}" if res.built else ""
    click.echo(f"{res.tag} ({how}{extra}, {res.seconds:.1f}s)")
    wanted = tuple(p for item in packages for p in item.replace(",", " ").split())
    if wanted or from_image:
        from chaoskit.backends.docker.system_image import system_image

        try:
            click.echo(system_image(from_image, wanted, log=log))
        except ImageError as e:
            click.echo(f"chaoskit image build: {e}", err=True)
            sys.exit(1)
    if prune:
        n = prune_old_node_images(res.tag)
        click.echo(f"removed {n} older image(s)")


@image.command("tag")
def tag() -> None:
    """Print the tag the current code's image has (built or not)."""
    from chaoskit.backends.docker.image import ImageError, node_image_tag

    try:
        click.echo(node_image_tag())
    except ImageError as e:
        click.echo(f"chaoskit image tag: {e}", err=True)
        sys.exit(1)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the compose file (default: compose/<experiment name>.yml).",
)
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a field.")
@click.option(
    "--image", "image_tag", default=None, help="Node image (default: the current build's tag)."
)
def compose(
    experiment: str, output: str | None, overrides: tuple[str, ...], image_tag: str | None
) -> None:
    """Write a docker-compose file of EXPERIMENT's topology (networks, nodes, links)."""
    from chaoskit.backends.docker.compose import used_subnets, write_compose
    from chaoskit.backends.docker.image import COMPOSE_DIR, node_image_tag
    from chaoskit.experiment import ExperimentError, load_experiment
    from chaoskit.systems import get_adapter

    if not Path(experiment).is_file():
        click.echo(f"chaoskit compose: {experiment}: no such file", err=True)
        sys.exit(2)
    try:
        exp = load_experiment(experiment, list(overrides))
    except ExperimentError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    adapter = get_adapter(exp.system.kind)(dict(exp.system.options))
    out = Path(output) if output else COMPOSE_DIR / f"{exp.name}.yml"
    image = image_tag or node_image_tag()
    links_image = exp.links.image if exp.links.server == "toxiproxy" else None
    problems = adapter.validate("docker")
    if problems:
        click.echo(f"chaoskit compose: {experiment}: " + "; ".join(problems), err=True)
        sys.exit(2)
    path, links = write_compose(
        out, exp.name, exp.topology, adapter, image, links_image, used_subnets()
    )
    click.echo(f"wrote {path} and {links}")
    click.echo(f"start it with: docker-compose -f {path} up -d")
