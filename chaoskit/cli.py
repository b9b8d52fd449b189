"""The `chaoskit` command line (click). Each package owns its own subcommands; this
module only names them, and imports a package when its command is used so that
`chaoskit --help` stays fast and one broken package cannot break the others."""

from __future__ import annotations

import importlib

import click

# command name -> ("module:attribute" of a click.Command / click.Group, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("chaoskit.engine_cli:run", "Run an experiment YAML end to end."),
    "validate": (
        "chaoskit.experiment.cli:validate",
        "Check experiment YAMLs without running them.",
    ),
    "init": ("chaoskit.experiment.init_cli:init", "Write a commented starter experiment."),
    "latency": ("chaoskit.topology.cli:latency", "Print the RTT matrix between named locations."),
    "links": ("chaoskit.links.cli:links", "The Toxiproxy-compatible link server."),
    "check": (
        "chaoskit.checker.cli:check",
        "Check histories: linearizability, or isolation of transactions.",
    ),
    "bench": ("chaoskit.bench_cli:bench", "Run the quick benchmarks: one table of ratios."),
    "report": ("chaoskit.report.cli:report", "Render (or compare) a run's report."),
    "image": ("chaoskit.backends.docker.cli:image", "Build the node image (offline if needed)."),
    "compose": (
        "chaoskit.backends.docker.cli:compose",
        "Write a docker-compose file of a topology.",
    ),
    "clean": (
        "chaoskit.backends.clean_cli:clean",
        "Remove every chaoskit container, network and leftover.",
    ),
    "export": (
        "chaoskit.export.cli:export",
        "Write an experiment as Kubernetes + Chaos Mesh manifests.",
    ),
    "systems": (
        "chaoskit.systems.cli:systems_command",
        "List system kinds (built in, plugins) and their origin.",
    ),
    "gameday": (
        "chaoskit.gameday.cli:gameday",
        "Load plus live fault injection, with a web panel.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            import difflib  # only for a mistyped command

            # click's own "Did you mean" does not see the lazily listed commands
            close = difflib.get_close_matches(args[0], COMMANDS, n=1)
            hint = (
                f"Did you mean {close[0]!r}?"
                if close
                else "Commands: " + ", ".join(sorted(COMMANDS)) + "."
            )
            ctx.fail(f"No such command {args[0]!r}. {hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the static table: listing commands must not import every package.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chaoskit")
def cli() -> None:
    """chaoskit: chaos experiments for geo-distributed systems.

    Regions joined by Toxiproxy links with real-world latency, a fault schedule,
    Locust load from every region, and verdicts at the end: linearizability or
    isolation, lost writes, recovery time, availability.
    """


def main() -> None:
    cli()
