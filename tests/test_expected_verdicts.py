"""Expected verdicts (`linearizable: {expect: false}`, `lost_writes: {min: N}`) and the
loss window (`lost_writes: {max_window: ...}`): validation, evaluation, and the window
computed from takeover events. A check that demonstrates a weakness must FAIL when
the weakness does not show."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaoskit.checks import Evidence, evaluate_checks
from chaoskit.experiment import ExperimentError, load_experiment
from chaoskit.report.checks import checks_from_mapping
from chaoskit.report.loss_window import loss_windows, takeovers
from chaoskit.report.scorecard import Scorecard

BASE = """\
name: x
backend: local
topology:
  regions:
    a: {location: beijing, zones: {a1: 1}}
    b: {location: xian, zones: {b1: 1}}
load: {workload: set, keys: 2, duration: 10s}
checks:
"""

S = 1_000_000_000


def load(tmp_path: Path, checks: str):
    p = tmp_path / "exp.yaml"
    p.write_text(BASE + textwrap.indent(textwrap.dedent(checks), "  "))
    return load_experiment(p, [])


def test_expect_min_and_max_window_parse(tmp_path: Path) -> None:
    exp = load(tmp_path, "linearizable: {expect: false}\nlost_writes: {min: 1, max_window: 5s}\n")
    assert exp.checks.linearizable.expect is False
    lw = exp.checks.lost_writes
    assert (lw.min, lw.max, lw.max_window_s) == (1, None, 5.0)  # min alone: no upper bound


@pytest.mark.parametrize(
    "checks, field, words",
    [
        ("linearizable: {expect: maybe}\n", "linearizable.expect", "true or false"),
        ("lost_writes: {min: 0}\n", "lost_writes.min", ">= 1"),
        ("lost_writes: {min: 5, max: 2}\n", "lost_writes.min", "above max"),
        ("lost_writes: {max_window: soon}\n", "lost_writes.max_window", "30s"),
        ("lost_writes: {most: 1}\n", "lost_writes.most", "max_window"),
    ],
)
def test_bad_expectations_are_refused(tmp_path: Path, checks: str, field: str, words: str) -> None:
    with pytest.raises(ExperimentError) as ei:
        load(tmp_path, checks)
    text = str(ei.value)
    assert f"checks.{field}" in text and words in text, text
    assert "exp.yaml:" in text  # file:line


def _sc(lost: int) -> Scorecard:
    from chaoskit.report.scorecard import LostWrite

    writes = [LostWrite("k", i, "a", 1.0 + i, 0.0, None) for i in range(lost)]
    return Scorecard(["a"], [], [], [], writes, [], 0.0, 10.0, 1.0, 0.9)


def judge(raw: dict, sc: Scorecard, lin: dict | None, windows: list | None = None) -> list:
    """The checks of a `checks:` mapping, validated as in a file, judged on `sc`."""
    spec = checks_from_mapping(raw, "set", ["a"])
    return evaluate_checks(spec, Evidence(sc, lin, windows or []))


def test_expected_violation_passes_only_when_found() -> None:
    b = {"linearizable": {"expect": False}}
    found = judge(b, _sc(0), {"verdict": "not-linearizable", "failing_key": "k0"})[0]
    assert found.passed and "as this experiment expects" in found.message
    gone = judge(b, _sc(0), {"verdict": "linearizable"})[0]
    assert not gone.passed and "lost its power" in gone.message
    unknown = judge(b, _sc(0), {"verdict": "unknown"})[0]
    assert not unknown.passed


def test_min_lost_writes_fails_when_nothing_is_lost() -> None:
    b = {"lost_writes": {"min": 1}}
    assert judge(b, _sc(3), None)[0].passed
    r = judge(b, _sc(0), None)[0]
    assert not r.passed and "expects at least 1" in r.message


def test_loss_window_runs_to_the_promotion_and_is_never_zero() -> None:
    events = [
        {"time": 1 * S, "event": "roles", "changed": {"primary": [None, ["a-1"]]}, "initial": True},
        {"time": 9 * S, "event": "roles", "changed": {"primary": [["a-1"], ["b-1"]]}},
    ]
    assert [t.time_s for t in takeovers(events)] == [9.0]  # the initial observation is no takeover
    # All acknowledged while the fault already ran: the old "age" would be 0 s for each.
    (w,) = loss_windows([6.5, 7.0, 8.7], events, 30.0)
    assert (w.count, w.start_s, w.end_s, w.span_s) == (3, 6.5, 9.0, 2.5)
    assert w.takeover.kind == "promotion" and "a-1 -> b-1" in w.takeover.detail
    # A deposed primary that kept acknowledging after the takeover: the window runs to
    # its last lost acknowledgement.
    (w,) = loss_windows([8.0, 12.0], events, 30.0)
    assert (w.start_s, w.end_s) == (8.0, 12.0)
    # degrade-quorum is a takeover too; with none at all the window ends with the load.
    dq = [{"time": 5 * S, "event": "apply", "id": "f2", "fault": "degrade-quorum"}]
    assert loss_windows([4.0], dq, 30.0)[0].end_s == 5.0
    (w,) = loss_windows([4.0], [], 30.0)
    assert w.takeover is None and w.span_s == 26.0


def test_max_window_bound() -> None:
    events = [{"time": 9 * S, "event": "roles", "changed": {"primary": [["a-1"], ["b-1"]]}}]
    windows = loss_windows([3.0, 8.0], events, 30.0)
    ok = judge({"lost_writes": {"min": 1, "max_window": "7s"}}, _sc(2), None, windows)
    assert ok[0].passed and "6.00 s window" in ok[0].message
    bad = judge({"lost_writes": {"max": 10, "max_window": "5s"}}, _sc(2), None, windows)
    assert not bad[0].passed and "> max_window 5 s" in bad[0].message
