"""`chaoskit validate`: exit codes and messages, through click and the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.experiment.cli import validate

GOOD = """\
name: cli-good
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 2, bj-dc2: 1}}
    xian: {location: xian, nodes: 1}
load: {duration: 20s}
schedule:
  - {at: 5s, for: 5s, fault: cut-region, region: beijing}
"""

BAD = """\
name: cli-bad
topology:
  regions:
    beijing: {location: beijing, nodes: 3}
schedule:
  - {at: 5s, for: 5s, fault: cut-regon, region: beijing}
"""


def test_valid_file_exits_0(tmp_path: Path) -> None:
    p = tmp_path / "good.yaml"
    p.write_text(GOOD)
    res = CliRunner().invoke(validate, [str(p)])
    assert res.exit_code == 0, res.output
    assert "ok" in res.output and "2 regions, 4 nodes" in res.output


def test_invalid_file_exits_2_with_line(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    res = CliRunner().invoke(validate, [str(good), str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:6: schedule.0.fault: unknown fault 'cut-regon'" in res.output
    assert "did you mean 'cut-region'" in res.output
    assert f"{good}: ok" in res.output  # every file is still checked


def test_set_override_on_the_command_line(tmp_path: Path) -> None:
    p = tmp_path / "good.yaml"
    p.write_text(GOOD)
    res = CliRunner().invoke(
        validate, [str(p), "--set", "load.duration=1m", "--set", "schedule.0.for=10s"]
    )
    assert res.exit_code == 0 and "for 60s" in res.output
    res = CliRunner().invoke(validate, [str(p), "--set", "schedule.0.for=-1s"])
    assert res.exit_code == 2
    assert f"{p}:8: schedule.0.for:" in res.output and "--set schedule.0.for=-1s" in res.output


def test_warning_does_not_fail(tmp_path: Path) -> None:
    p = tmp_path / "good.yaml"
    p.write_text(GOOD)
    res = CliRunner().invoke(validate, [str(p), "--set", "schedule.0.for=60s"])
    assert res.exit_code == 0
    assert "warning: schedule.0.for: would outlast the load" in res.output


def test_real_entry_point_exit_codes(tmp_path: Path) -> None:
    """Through the installed `chaoskit` group, as users run it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    missing = tmp_path / "missing.yaml"
    cmd = [sys.executable, "-c", "from chaoskit.cli import main; main()", "validate"]
    r = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and ":6: schedule.0.fault" in r.stderr
    r = subprocess.run([*cmd, str(missing)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "file not found" in r.stderr
    r = subprocess.run([*cmd], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Missing argument" in r.stderr


def test_shipped_experiments_are_valid() -> None:
    files = sorted(str(p) for p in (Path(__file__).parent.parent / "experiments").glob("*.yaml"))
    assert files, "experiments/ ships ready-to-run YAMLs"
    res = CliRunner().invoke(validate, files)
    assert res.exit_code == 0, res.output


def test_init_writes_a_valid_starter_whose_comments_are_valid_too(tmp_path: Path) -> None:
    from chaoskit.experiment import load_experiment
    from chaoskit.experiment.init_cli import init

    p = tmp_path / "starter.yaml"
    res = CliRunner().invoke(init, [str(p), "--regions", "tokyo,us-east,frankfurt"])
    assert res.exit_code == 0, res.output
    exp = load_experiment(p)
    assert exp.name == "starter" and exp.topology.region_names == [
        "ap-northeast",
        "us-east",
        "eu-central",
    ]
    # the commented-out examples are valid when uncommented
    text = p.read_text()
    text = text.replace("  # - ", "  - ").replace("  # latency:", "  latency:")
    p.write_text(text)
    exp = load_experiment(p)
    assert len(exp.schedule) == 4
    assert exp.topology.rtt("ap-northeast", "us-east").rtt_ms == 30.0  # the override
    # refuses to overwrite, and rejects unknown locations with a suggestion
    res = CliRunner().invoke(init, [str(p)])
    assert res.exit_code == 2 and "exists" in res.output
    res = CliRunner().invoke(init, [str(tmp_path / "n.yaml"), "--regions", "bejing,xian"])
    assert res.exit_code == 2 and "beijing" in res.output
    assert sorted(x.name for x in tmp_path.iterdir()) == ["starter.yaml"]  # no temp files left


def test_init_into_a_new_directory_with_ordinary_permissions(tmp_path: Path) -> None:
    # Regressions: a path in a missing directory ended in a FileNotFoundError
    # traceback, and the starter was written 0600 (mkstemp's mode).
    import os

    from chaoskit.experiment.init_cli import init

    p = tmp_path / "new" / "dir" / "exp.yaml"
    old = os.umask(0o022)
    try:
        res = CliRunner().invoke(init, [str(p)])
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert p.stat().st_mode & 0o777 == 0o644
    assert [x.name for x in p.parent.iterdir()] == ["exp.yaml"]


@pytest.mark.parametrize(
    ("system", "kind", "mode", "backend"),
    [
        ("geokv", "geokv", "quorum", "local"),
        ("geokv-lww", "geokv", "lww", "local"),
        ("geokv-unit", "geokv", "unit", "local"),
        ("etcd", "etcd", None, "docker"),
        ("generic", "generic", None, "local"),
    ],
)
def test_init_for_a_chosen_system_and_topology(
    tmp_path: Path, system: str, kind: str, mode: str | None, backend: str
) -> None:
    from chaoskit.experiment import load_experiment
    from chaoskit.experiment.init_cli import init

    p = tmp_path / f"{system}.yaml"
    args = [str(p), "--system", system, "--nodes", "2", "--regions", "us-east,eu-west,tokyo"]
    res = CliRunner().invoke(init, args)
    assert res.exit_code == 0, res.output
    exp = load_experiment(p)
    assert exp.system.kind == kind and exp.system.options.get("mode") == mode
    assert exp.backend == backend
    assert exp.topology.region_names == ["us-east", "eu-west", "ap-northeast"]
    assert len(exp.topology.nodes) == 6
    # LWW is not linearizable under a cut: the bound is there, commented out, with why
    text = p.read_text()
    assert (exp.checks.linearizable is None) == (system == "geokv-lww")
    if system == "geokv-lww":
        assert "# linearizable: true" in text and "counterexample" in text
    res = CliRunner().invoke(init, [str(tmp_path / "x.yaml"), "--system", "cassandra"])
    assert res.exit_code == 2 and "geokv-lww" in res.output


def test_init_offers_a_starter_for_every_registered_kind(tmp_path: Path) -> None:
    """Each built-in adapter brings its own starter (the `starter` hook): every kind
    `chaoskit systems` lists gets one, and what it writes validates as written."""
    from chaoskit import systems
    from chaoskit.experiment.init_cli import init, offered

    kinds = systems.known_kinds()
    assert {"geokv", "etcd", "generic", "redis-sentinel", "postgres-patroni"} <= set(kinds)
    assert set(kinds) <= set(offered())
    for kind in kinds:
        p = tmp_path / f"{kind}.yaml"
        args = [str(p), "--system", kind, "--nodes", "2", "--regions", "beijing,xian,shanghai"]
        res = CliRunner().invoke(init, args)
        assert res.exit_code == 0, res.output
        res = CliRunner().invoke(validate, [str(p)])
        assert res.exit_code == 0, (kind, res.output)
        text = p.read_text()
        assert f"kind: {kind}" in text
        # the options commented out in the system block are valid when uncommented
        block = text.split("\nsystem:", 1)[1].split("\n\n", 1)[0]
        p.write_text(text.replace(block, block.replace("\n  # ", "\n  ")))
        res = CliRunner().invoke(validate, [str(p)])
        assert res.exit_code == 0, (kind, res.output)
    # an unknown name: a usage error (exit 2) that lists every name on offer
    res = CliRunner().invoke(init, [str(tmp_path / "x.yaml"), "--system", "redis"])
    assert res.exit_code == 2
    assert all(name in res.output for name in offered()), res.output
    assert not (tmp_path / "x.yaml").exists()
