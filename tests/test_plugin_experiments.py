"""The pytest plugin collects experiment YAMLs as test items (run with pytester in a
subprocess): a passing and a failing experiment, a readable failure naming the
bound, the region, the numbers and the results; what is and is not collected."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Three regions, one geokv node each, majority quorums; a short load, no fault.
PASSING = """\
name: calm
backend: local
seed: 3
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    shanghai: {location: shanghai, zones: {sh-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
  clients: {beijing: 1, shanghai: 1, xian: 1}
system: {kind: geokv, mode: quorum}
load: {workload: register, keys: 3, duration: 3s, rate: 30, timeout: 1s}
checks:
  linearizable: true
"""

# Xi'an is cut off from 1 s to the end of the load: its RTO bound of 1 s cannot hold.
FAILING = """\
name: xian-never-back
backend: local
seed: 3
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    shanghai: {location: shanghai, zones: {sh-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
  clients: {beijing: 1, shanghai: 1, xian: 1}
system: {kind: geokv, mode: quorum}
load: {workload: register, keys: 3, duration: 4s, rate: 30, timeout: 1s}
schedule:
  - {at: 1s, fault: cut-region, region: xian}
checks:
  linearizable: true
  rto: {region: xian, max: 1s}
"""

NOT_AN_EXPERIMENT = "name: some-config\nsettings: {a: 1}\n"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    reg = tmp_path / "registry"
    monkeypatch.setenv("CHAOSKIT_LOCAL_REGISTRY", str(reg))
    return reg


@pytest.mark.slow
def test_passing_and_failing_experiments(
    pytester: pytest.Pytester, tmp_path: Path, registry: Path
) -> None:
    exp = pytester.mkdir("experiments")
    (exp / "calm.yaml").write_text(PASSING)
    (exp / "xian.yaml").write_text(FAILING)
    (exp / "config.yaml").write_text(NOT_AN_EXPERIMENT)
    results = tmp_path / "results"
    junit = tmp_path / "junit.xml"
    r = pytester.runpytest_subprocess(
        "experiments",
        "--chaoskit-results",
        str(results),
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        "-rA",
        timeout=240,
    )
    out = r.stdout.str()
    r.assert_outcomes(passed=1, failed=1)
    # the failure is an account, not a traceback: bound, region, numbers, where
    assert "chaoskit experiment 'xian-never-back': FAILED: a bound failed" in out
    assert "FAIL rto xian" in out and "region xian" in out and "bound 1.0" in out
    assert "results: " + str(results / "xian-never-back") in out
    assert "report.html: " in out
    # Once in the failure's own section (the short summary repeats it untruncated
    # when pytest sees CI=true, so count only above it).
    failures = out.split("short test summary info")[0]
    assert "Traceback" not in out and failures.count("FAIL rto xian") == 1
    # the passing run's account is a report section; results dirs are attached
    assert "PASSED: every bound held" in out
    props = {
        tc.get("name"): p.get("value")
        for tc in ET.parse(junit).getroot().iter("testcase")
        for p in tc.iter("property")
        if p.get("name") == "chaoskit_results"
    }
    assert set(props) == {"calm", "xian-never-back"}
    for name, run_dir in props.items():
        d = Path(run_dir)
        assert d.parent.name == name and (d / "check.json").exists()
        assert not (d / "INCOMPLETE").exists()
    # nothing left behind: every run's pid registry removed
    assert not registry.exists() or not any(registry.iterdir())


def test_what_is_collected(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    (pytester.mkdir("experiments") / "calm.yaml").write_text(PASSING)
    (pytester.path / "experiments" / "config.yaml").write_text(NOT_AN_EXPERIMENT)
    tests = pytester.mkdir("tests")
    (tests / "data.yaml").write_text(FAILING)
    (tests / "test_x.py").write_text("def test_x():\n    assert True\n")

    def collected(*args: str) -> str:
        r = pytester.runpytest_subprocess("--co", "-q", "-p", "no:cacheprovider", *args)
        return r.stdout.str()

    # plain `pytest`: the project's suite only, no experiment
    out = collected()
    assert "test_x.py::test_x" in out and ".yaml" not in out
    # named on the command line: collected; YAML that is not an experiment: not
    out = collected("experiments")
    assert "experiments/calm.yaml::calm" in out and "config.yaml" not in out
    # `pytest .`: experiments yes, the test suite's own YAML no
    out = collected(".")
    assert "experiments/calm.yaml::calm" in out and "tests/data.yaml" not in out
    # configured globs collect without naming the path
    pytester.makeini("[pytest]\ntestpaths = tests\nchaoskit_experiments = tests/*.yaml\n")
    out = collected()
    assert "tests/data.yaml::xian-never-back" in out


def test_docker_marker_and_bad_experiment(pytester: pytest.Pytester, tmp_path: Path) -> None:
    exp = pytester.mkdir("experiments")
    (exp / "dock.yaml").write_text(PASSING.replace("name: calm", "name: dock"))
    (exp / "broken.yaml").write_text(PASSING.replace("name: calm", "name: broken") + "bogus: 1\n")
    r = pytester.runpytest_subprocess(
        "experiments", "--co", "-q", "-m", "not docker", "--chaoskit-backend", "docker"
    )
    assert "2 deselected" in r.stdout.str()  # every item runs on docker: all marked
    # an invalid experiment fails at once with file, line and field, and starts nothing
    r = pytester.runpytest_subprocess(
        "experiments/broken.yaml", "--chaoskit-results", str(tmp_path / "res")
    )
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "broken.yaml: not a valid experiment" in out and "bogus" in out
    assert "broken.yaml:14" in out
    assert not (tmp_path / "res").exists()


def test_plugin_imports_fast_without_locust() -> None:
    import subprocess
    import sys

    code = (
        "import sys, chaoskit.pytest_plugin; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
