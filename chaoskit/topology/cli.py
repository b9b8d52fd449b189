"""`chaoskit latency A B C ...`: the RTT matrix between named locations."""

from __future__ import annotations

import json

import click

from chaoskit.topology import geo
from chaoskit.topology.locations import LOCATIONS

_MARK = {"measured": "", "estimated": "~", "same-city": ""}


def _matrix_text(names: list[str], show_jitter: bool) -> str:
    cells: list[list[str]] = [["", *names]]
    for a in names:
        row = [a]
        for b in names:
            lat = geo.rtt(a, b)
            text = f"{_MARK[geo.rtt_source(a, b)]}{lat.rtt_ms:g}"
            if show_jitter:
                text += f"±{lat.jitter_ms:g}"
            row.append(text)
        cells.append(row)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


@click.command()
@click.argument("locations", nargs=-1)
@click.option("--jitter", is_flag=True, help="Show the default jitter next to each RTT.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: {a: {b: {rtt_ms, jitter_ms, source}}}."
)
@click.option("--list", "list_all", is_flag=True, help="List every known location and its aliases.")
def latency(locations: tuple[str, ...], jitter: bool, as_json: bool, list_all: bool) -> None:
    """Print the round-trip time matrix (ms) between LOCATIONS.

    Measured figures are printed plainly, distance-based estimates with a leading
    "~". Example: chaoskit latency beijing xian us-east
    """
    if list_all:
        for loc in LOCATIONS.values():
            alias = f"  (also: {', '.join(loc.aliases)})" if loc.aliases else ""
            click.echo(f"{loc.name:16} {loc.description}{alias}")
        return
    if not locations:
        raise click.UsageError("name at least one location (see --list)")
    names: list[str] = []
    for raw in locations:
        try:
            geo.resolve(raw)
        except geo.UnknownLocationError as e:
            raise click.UsageError(str(e)) from e
        if raw not in names:  # a name given twice is one row, not two identical ones
            names.append(raw)
    if as_json:
        out = {
            a: {
                b: {
                    "rtt_ms": geo.rtt(a, b).rtt_ms,
                    "jitter_ms": geo.rtt(a, b).jitter_ms,
                    "source": geo.rtt_source(a, b),
                }
                for b in names
            }
            for a in names
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(_matrix_text(names, jitter))
    click.echo(
        "RTT in ms; ~ = estimated from great-circle distance (no measured figure); "
        "diagonal = two data centres in the same city."
    )
