"""libfaketime is needed only by clock faults: a host without it runs everything
else, and an experiment with a clock fault is refused before anything starts,
naming the fault's line. "A host without it" = the lookup pointed at an empty
directory (`--libfaketime-dir`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.backends.faketime import find_libfaketime

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = [str(Path(sys.executable).parent / "chaoskit")]

SKEW = """\
name: skew
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    shanghai: {location: shanghai, zones: {sh-dc1: 1}}
system: {kind: geokv, mode: lww}
load: {duration: 6s, rate: 20}
schedule:
  - {at: 1s, for: 2s, fault: cut-region, region: shanghai}
  - {at: 2s, for: 2s, fault: clock-skew, target: beijing-1, offset: 5s}
"""


def _chaoskit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CHAOSKIT, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_lookup_follows_the_root(tmp_path: Path) -> None:
    assert find_libfaketime(tmp_path) is None
    lib = tmp_path / "x86_64-linux-gnu" / "faketime" / "libfaketime.so.1"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"")
    assert find_libfaketime(tmp_path) == str(lib)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_clock_fault_refused_without_libfaketime(tmp_path: Path, command: str) -> None:
    exp = tmp_path / "skew.yaml"
    exp.write_text(SKEW)
    empty = tmp_path / "empty"
    empty.mkdir()
    results = tmp_path / "results"
    extra = ["--results", str(results)] if command == "run" else []
    t = time.monotonic()
    p = _chaoskit(command, str(exp), "--libfaketime-dir", str(empty), *extra)
    assert p.returncode == 2, p.stderr
    assert time.monotonic() - t < 20  # refused at once, nothing started
    assert f"{exp}:10: schedule: fault clock-skew (f2): libfaketime is not installed" in p.stderr
    assert "cut-region" not in p.stderr  # only the clock fault is named
    assert not results.exists()


def test_docker_backend_needs_no_host_libfaketime(tmp_path: Path) -> None:
    """The node image carries libfaketime: the host's does not matter there."""
    exp = tmp_path / "skew.yaml"
    exp.write_text(SKEW.replace("name: skew", "name: skew\nbackend: docker"))
    empty = tmp_path / "empty"
    empty.mkdir()
    p = _chaoskit("validate", str(exp), "--libfaketime-dir", str(empty))
    assert p.returncode == 0, p.stderr


@pytest.mark.slow
def test_smoke_runs_without_libfaketime(tmp_path: Path) -> None:
    """The README's first command on a host without libfaketime: smoke.yaml has no
    clock fault, so no node is started under it and the run passes."""
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    p = subprocess.run(
        [
            *CHAOSKIT,
            "run",
            "-q",
            "experiments/smoke.yaml",
            "--libfaketime-dir",
            str(empty),
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    for log in (run_dir / "logs").glob("*-1.log"):
        assert "faketime" not in log.read_text()


def test_gameday_with_its_schedule_refuses_a_clock_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from chaoskit.backends import faketime
    from chaoskit.gameday.cli import gameday

    monkeypatch.setattr(faketime, "DEFAULT_ROOT", tmp_path / "empty")  # a host without it
    exp = tmp_path / "skew.yaml"
    exp.write_text(SKEW)
    res = CliRunner().invoke(gameday, [str(exp), "--schedule", "--results", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert f"{exp}:10: schedule: fault clock-skew (f2): libfaketime is not installed" in res.output
    assert not (tmp_path / "r").exists()
