"""The `chaoskit` front door as a new user meets it: every subcommand's --help works
through the real entry point (the lazy CLI table imports each room), and a mistyped
command is answered with the closest real one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.cli import COMMANDS

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")
SUBCOMMANDS = sorted(COMMANDS) + ["links serve", "links status"]


def _chaoskit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHAOSKIT, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    r = _chaoskit(*command.split(), "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Usage: chaoskit {command} ")
    assert "-h, --help" in r.stdout, "-h works everywhere, as on the top level"


def test_top_level_help_lists_every_command_without_importing_rooms() -> None:
    r = _chaoskit("--help")
    assert r.returncode == 0
    for name, (_, line) in COMMANDS.items():
        assert f"{name}" in r.stdout and line in r.stdout


def test_mistyped_command_suggests_the_closest() -> None:
    r = _chaoskit("rnu", "experiments/smoke.yaml")
    assert r.returncode == 2
    assert "No such command 'rnu'. Did you mean 'run'?" in r.stderr
    r = _chaoskit("xyzzy")
    assert r.returncode == 2 and "Commands: bench, check, clean," in r.stderr
