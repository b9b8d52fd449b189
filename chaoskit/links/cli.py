"""`chaoskit links ...` (click). `serve` runs the same server as `python -m chaoskit.links`."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from chaoskit.access import LINKS_TOKEN_ENV, token_for


@click.group()
def links() -> None:
    """The Toxiproxy-compatible link server."""


@links.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="API address to bind.")
@click.option(
    "--port",
    default=8474,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="API port (0 = any free port).",
)
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False),
    help="Write the bound API port here once listening.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="How much the server logs (to stderr).",
)
@click.option(
    "--token",
    envvar=LINKS_TOKEN_ENV,
    default=None,
    help="Require this token on every request (X-Chaoskit-Token); generated and printed "
    "when --host is not loopback.",
)
def serve(host: str, port: int, port_file: str | None, log_level: str, token: str | None) -> None:
    """Run the link server until SIGTERM/SIGINT."""
    from chaoskit.links.server import configure_logging
    from chaoskit.links.server import serve as run

    configure_logging(log_level)
    token, line = token_for(host, token, "link API")
    if line:
        click.echo(line, err=True)
    try:
        asyncio.run(run(host, port, port_file, token))
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


@links.command()
@click.option(
    "--api",
    default="http://127.0.0.1:8474",
    show_default=True,
    help="Link server (or Toxiproxy) API URL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--token",
    envvar=LINKS_TOKEN_ENV,
    default=None,
    help="The server's token (needed when it listens beyond loopback).",
)
def status(api: str, as_json: bool, token: str | None) -> None:
    """Show every link: enabled, cut, toxics."""
    from chaoskit.links.control import LinkControl, LinkError

    try:
        state = LinkControl(api, token=token).state()
    except LinkError as e:
        # A refused connection almost always means "nothing listens there": say how to fix it.
        hint = (
            " (connection refused); pass the API URL of a running link server with --api "
            "(a run's links.log names it), or start one with `chaoskit links serve`"
            if "refused" in str(e).lower()
            else ""
        )
        raise click.ClickException(str(e).split(": HTTPConnectionPool")[0] + hint) from None
    if as_json:
        json.dump(state, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not state:
        click.echo(f"no links: the server at {api} has no proxies yet")
    for name, s in sorted(state.items()):
        toxics = ", ".join(f"{t['name']}({t['type']})" for t in s["toxics"]) or "-"
        cut = s["cut"] or "-"
        click.echo(f"{name:40} {'up  ' if s['enabled'] else 'DOWN'} cut={cut:10} {toxics}")
