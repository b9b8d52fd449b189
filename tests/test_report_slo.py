"""Availability from latency: a success slower than the SLO counts as not served.

Shanghai's clients in the synthetic run see ~30 ms round trips to the leader and every operation succeeds
(no fault): by success rate the system is fully available, but not within a 10 ms
SLO -- the case the RTO cannot see (a stall shorter than the client timeout)."""

from __future__ import annotations

import json

from chaoskit.report.checks import evaluate
from chaoskit.testing.synthetic import SyntheticSpec, write_synthetic_run


def _judge(tmp_path, availability):
    run = write_synthetic_run(tmp_path / "run", SyntheticSpec(cut_region=None, duration_s=6.0))
    return run, evaluate(run, {"checks": {"availability": availability}})


def test_slow_successes_are_not_served_within_the_slo(tmp_path):
    run, rep = _judge(
        tmp_path,
        [
            {"region": "shanghai", "phase": "all", "min": 0.95},
            {"region": "shanghai", "phase": "all", "min": 0.95, "slo": "10ms"},
            {"region": "shanghai", "phase": "all", "min": 0.95, "slo": "500ms"},
        ],
    )
    doc = json.loads((run / "check.json").read_text())
    plain, tight, loose = [c for c in doc["checks"] if c["check"] == "availability"]
    assert plain["passed"] and loose["passed"], (plain, loose)
    assert not tight["passed"], tight
    assert "within SLO 10 ms 0.0" in tight["message"] and "success rate 1.000" in tight["message"]
    assert not rep.passed
    # both measures in check.json, the summary and the report
    row = next(
        r for r in doc["scorecard"]["rows"] if r["region"] == "shanghai" and r["phase"] == "all"
    )
    assert row["within_slo"]["10"] == 0 and row["within_slo"]["500"] == row["ok"] + row["rejected"]
    assert "within 10 ms" in (run / "summary.md").read_text()
    assert "within 500 ms" in (run / "report.html").read_text()


def test_a_bad_slo_is_a_line_numbered_error():
    from chaoskit.experiment import load_experiment_text
    from chaoskit.experiment.spec import ExperimentError

    text = (
        "name: x\nbackend: local\ntopology:\n  regions:\n    a: {location: beijing, zones: {z: 1}}\n"
        "system: {kind: geokv}\nload: {duration: 5s}\nchecks:\n"
        "  availability: {region: a, min: 0.9, slo: fast}\n"
    )
    try:
        load_experiment_text(text, name="slo.yaml")
    except ExperimentError as e:
        (err,) = [x for x in e.errors if x.field == "checks.availability.slo"]
        assert err.line == 9, str(err)
    else:
        raise AssertionError("slo: fast was accepted")
