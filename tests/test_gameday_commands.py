"""The game day's terminal language and live fault validation (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.gameday.commands import Action, CommandError, parse_command
from chaoskit.gameday.live import LiveError, fault_spec

ROOT = Path(__file__).resolve().parent.parent


def test_parse_commands() -> None:
    assert parse_command("apply cut-region region=beijing") == Action(
        "apply", fault="cut-region", params={"region": "beijing"}
    )
    a = parse_command("apply partition groups='[[beijing], [xian]]' mode=refuse")
    assert a.params == {"groups": [["beijing"], ["xian"]], "mode": "refuse"}
    a = parse_command('apply latency links="{region: xian}" rtt=300ms')
    assert a.params == {"links": {"region": "xian"}, "rtt": "300ms"}
    assert parse_command("heal g1") == Action("heal", target="g1")
    assert parse_command("heal all") == Action("heal", target="all")
    assert parse_command("  STATUS ") == Action("status")
    assert parse_command("end") == Action("end")
    assert parse_command("") is None and parse_command("# a comment") is None


@pytest.mark.parametrize(
    "line, says",
    [
        ("cut beijing", "unknown command 'cut'"),
        ("apply", "apply needs a fault"),
        ("apply cut-region beijing", "'beijing' is not key=value"),
        ("heal", "heal needs one fault id or `all`"),
        ("status now", "status takes no arguments"),
        ("apply kill target='unclosed", "cannot read"),
    ],
)
def test_bad_commands_say_what_is_valid(line: str, says: str) -> None:
    with pytest.raises(CommandError, match=says.replace("(", r"\(").replace("`", "`")):
        parse_command(line)


def test_fault_spec_validates_like_the_schedule() -> None:
    from chaoskit.experiment import load_experiment

    exp = load_experiment(ROOT / "experiments" / "smoke.yaml")
    spec = fault_spec(exp, "latency", {"links": {"region": "xian"}, "rtt": "300ms"})
    assert spec.kind == "latency" and spec.params["rtt"] == pytest.approx(0.3)
    assert spec.params["mode"] == "set"  # defaults filled
    with pytest.raises(LiveError, match="region: region 'nowhere' does not exist"):
        fault_spec(exp, "cut-region", {"region": "nowhere"})
    with pytest.raises(LiveError, match="unknown fault 'cut-regoin'"):
        fault_spec(exp, "cut-regoin", {"region": "xian"})
    with pytest.raises(LiveError, match="lasts until it is healed"):
        fault_spec(exp, "cut-region", {"region": "xian", "for": "5s"})
