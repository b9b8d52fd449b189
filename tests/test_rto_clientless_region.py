"""A region without clients (a witness site) has no RTO: its recovery cannot be seen,
so the report shows none (it read "0 s, never dropped"), an `rto` check naming it
fails with the reason, and `rto: {region: all}` leaves it out."""

from __future__ import annotations

from pathlib import Path

from chaoskit.checks import Evidence, evaluate_checks
from chaoskit.report.checks import checks_from_mapping
from chaoskit.report.data import FaultWindow, Op, RunData
from chaoskit.report.scorecard import build_scorecard

S = 1_000_000_000


def _scorecard(tmp_path: Path):
    ops = [
        Op(i, 0, "write", "k", i, "a", "a-1", int(i * S / 4), int(i * S / 4) + 1000, "ok")
        for i in range(40)
    ]
    fault = FaultWindow("f1", "partition", {}, {}, 3 * S, 5 * S)
    run = RunData(tmp_path, ops, [fault], [], 0, 10 * S, 10 * S, ["a", "witness"])
    return build_scorecard(run)


def test_no_rto_for_a_region_without_operations(tmp_path: Path) -> None:
    sc = _scorecard(tmp_path)
    assert [r.region for r in sc.rto] == ["a"]


def test_rto_check_on_a_clientless_region(tmp_path: Path) -> None:
    sc = _scorecard(tmp_path)

    def judge(region: str) -> list:
        spec = checks_from_mapping(
            {"rto": {"region": region, "max": "5s"}}, "register", ["a", "witness"]
        )
        return evaluate_checks(spec, Evidence(sc, None))

    (named,) = judge("witness")
    assert not named.passed and "no clients" in named.message, named.message
    assert [(r.region, r.passed) for r in judge("all")] == [("a", True)]
