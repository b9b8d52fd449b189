"""`chaoskit run` with a wrong experiment: exit 2, a message with file and line,
and nothing started (no results directory, no process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """\
name: tiny
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
system: {kind: geokv, mode: quorum}
load: {duration: 5s}
schedule:
  - {at: 1s, for: 1s, fault: cut-region, region: beijing}
"""

BAD = {
    "unknown fault": (GOOD.replace("fault: cut-region", "fault: cut-regoin"), 9, "cut-region"),
    "unknown region": (GOOD.replace("region: beijing}", "region: tokyo}"), 9, "tokyo"),
    "negative duration": (GOOD.replace("duration: 5s", "duration: -5s"), 7, "duration"),
    "bad indentation": (GOOD.replace("    xian:", "     xian:"), 5, ""),
    "unknown field": (GOOD.replace("load: {duration: 5s}", "load: {duraton: 5s}"), 7, "duration"),
}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "chaoskit"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("case", sorted(BAD))
def test_wrong_yaml_exits_2_with_line(case: str, tmp_path: Path) -> None:
    text, line, word = BAD[case]
    f = tmp_path / "exp.yaml"
    f.write_text(text)
    results = tmp_path / "results"
    r = _run(["run", str(f), "--results", str(results), "--quiet"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"exp.yaml:{line}" in r.stderr, r.stderr
    assert word in r.stderr
    assert not results.exists(), "nothing is started for a wrong experiment"


def test_bad_override_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "exp.yaml"
    f.write_text(GOOD)
    r = _run(
        ["run", str(f), "--set", "load.duration=-1s", "--results", str(tmp_path / "r")], tmp_path
    )
    assert r.returncode == 2 and "duration" in r.stderr
    r = _run(["run", str(tmp_path / "nope.yaml")], tmp_path)
    assert r.returncode == 2 and "nope.yaml" in r.stderr
    r = _run(["run", str(f), "--backend", "kubernetes"], tmp_path)
    assert r.returncode == 2 and "local" in r.stderr
    assert not (tmp_path / "r").exists()
