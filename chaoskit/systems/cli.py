"""`chaoskit systems`: every system kind this installation knows, and where it comes from."""

from __future__ import annotations

import json

import click

from chaoskit import systems


def _describe(entry: systems.SystemEntry) -> dict:
    row = {
        "kind": entry.kind,
        "distribution": entry.distribution,
        "version": entry.version,
        "adapter": entry.target,
    }
    try:
        cls = systems.get_adapter(entry.kind)
    except ImportError as e:
        row["error"] = str(e)
        return row
    row.update(
        ports=list(cls.ports),
        workloads=list(cls.workloads),
        clock_skew=bool(cls.supports_clock_skew),
        docker_only=bool(cls.needs_single_address),
        about=((cls.__doc__ or "").strip().splitlines() or [""])[0],
    )
    return row


@click.command("systems")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per kind, one per line.")
def systems_command(as_json: bool) -> None:
    """List every system kind (built in, or added by an installed distribution through
    the `chaoskit.systems` entry-point group) with the distribution and module it
    comes from, its ports, workloads and whether its clock can be skewed.

    Exit status 1 when a registered adapter cannot be imported or two distributions
    register the same kind."""
    rows = [_describe(e) for e in systems.entries().values()]
    rows.sort(key=lambda r: r["kind"])
    clashes = systems.conflicts()
    bad = False
    for r in rows:
        if as_json:
            click.echo(json.dumps(r))
            bad = bad or "error" in r
            continue
        version = f" {r['version']}" if r["version"] else ""
        click.echo(f"{r['kind']}: {r['adapter']}  (distribution {r['distribution']}{version})")
        if "error" in r:
            bad = True
            click.echo(f"    BROKEN: {r['error']}")
            continue
        click.echo(
            f"    ports {', '.join(r['ports'])}; workloads {', '.join(r['workloads'])}; "
            f"clock skew {'yes' if r['clock_skew'] else 'no'}"
            + ("; docker backend only" if r["docker_only"] else "")
        )
        if r["about"]:
            click.echo(f"    {r['about']}")
    for kind, regs in sorted(clashes.items()):
        bad = True
        who = ", ".join(f"{e.distribution} ({e.target})" for e in regs)
        click.echo(
            f"conflict: kind {kind!r} is registered by {who}; the first one is used", err=True
        )
    if bad:
        raise SystemExit(1)
