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
    r = _run(["run", str(tmp_path)], tmp_path)
    assert r.returncode == 2 and "is a directory" in r.stderr
    r = _run(["run", str(f), "--workers", "-1"], tmp_path)
    assert r.returncode == 2 and "--workers" in r.stderr
    assert not (tmp_path / "r").exists()


def test_error_lines_are_not_wrapped(tmp_path: Path) -> None:
    # Regression: rich wrapped `file:line: field: message` at 80 columns when stderr
    # was not a terminal, splitting one greppable line in two.
    f = tmp_path / "exp.yaml"
    f.write_text(GOOD)
    r = _run(["run", str(f), "--set", "load.duration=abc", "--results", str(tmp_path)], tmp_path)
    assert r.returncode == 2
    line = next(ln for ln in r.stderr.splitlines() if "exp.yaml:7:" in ln)
    assert "load.duration" in line and "(value from --set load.duration=abc)" in line


def test_summary_lists_every_check_and_shows_labels_verbatim(tmp_path: Path) -> None:
    """The terminal summary: every check with PASS/FAIL, fault labels with brackets
    intact (not eaten as rich markup), readable timings, the description as caption."""
    import io

    from rich.console import Console

    from chaoskit.engine import RunResult
    from chaoskit.engine_cli import _summary
    from chaoskit.experiment import load_experiment

    f = tmp_path / "exp.yaml"
    f.write_text(GOOD.replace("name: tiny", "name: tiny\ndescription: Expected to FAIL."))
    experiment = load_experiment(f)
    from chaoskit.checks import CheckResult
    from chaoskit.report.checks import CheckReport
    from chaoskit.report.scorecard import Row, Scorecard, Stats

    stats = Stats(10, 5, 5, 0, 0.5, 1.0, 3.0, 9.0, 12.0, 12.0)
    row = Row("xian", "during:f1", "during f1 partition [[xian]]", 2.0, 4.0, stats)
    sc = Scorecard(["xian"], [], [row], [], [], [], 0.0, 6.0, 1.0, 0.9)
    checks = CheckReport(
        passed=False,
        failures=["op #9 [line 1-2] bad"],
        scorecard=sc,
        results=[
            CheckResult("linearizable", False, "op #9 [line 1-2] bad"),
            CheckResult("rto", True, "rto xian after f1: 1.00 s"),
        ],
        linearizability={"verdict": "not-linearizable"},
    )
    result = RunResult(1, tmp_path, checks=checks, timings={"nodes_ready_s": 0.25})
    out = io.StringIO()
    _summary(Console(file=out, width=200), result, experiment)
    text = out.getvalue()
    assert "FAILED" in text
    assert "FAIL op #9 [line 1-2] bad" in text and "PASS rto xian after f1: 1.00 s" in text
    assert "xian during f1 partition [[xian]]" in text
    assert "time: nodes ready" in text and "nodes_ready_s" not in text
    assert "Expected to FAIL." in text
