"""A cas whose compare did not match is `fail` (no effect) but the system answered:
the scorecard counts it as served (`rejected`), not against availability or RTO,
while real unavailability (a cut region's failures) still counts.

The history is a cas-register run written by hand (one key per region, every
operation sequential, so it is linearizable and every expected number is known):
each region cycles write, read, cas that matches, cas that does not match. Beijing
is cut from 3 s to 5 s and fails everything then ("no quorum").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaoskit.report.checks import evaluate
from chaoskit.report.data import load_run
from chaoskit.report.live import LiveMetrics
from chaoskit.report.scorecard import build_scorecard
from chaoskit.systems.base import CAS_MISMATCH, is_cas_mismatch

NS = 1_000_000_000
STEP = NS // 10  # one operation every 100 ms per region
LAT = 20_000_000  # each takes 20 ms
LOAD = (NS // 2, 10 * NS + NS // 2)  # load-start .. load-stop
CUT = (3 * NS, 5 * NS)  # beijing cut-region


def _history() -> list[dict]:
    recs: list[dict] = []
    for p, (region, key) in enumerate((("beijing", "kb"), ("xian", "kx"))):
        v, i, t = 0, 0, LOAD[0]
        while t + LAT < LOAD[1]:
            kind = ("write", "read", "cas", "cas-miss")[i % 4]
            f = "cas" if kind.startswith("cas") else kind
            value = {
                "write": v + 1,
                "read": None,
                "cas": [v, v + 1],
                "cas-miss": [v + 100, v + 200],
            }[kind]
            base = {"process": p, "f": f, "key": key, "region": region, "node": f"{region}-1"}
            recs.append({**base, "type": "invoke", "value": value, "time": t})
            done = {**base, "time": t + LAT}
            if region == "beijing" and CUT[0] <= t < CUT[1]:
                done |= {"type": "fail", "value": value, "error": "beijing-1: HTTP 503: no quorum"}
            elif kind == "cas-miss":
                error = f"{CAS_MISMATCH}: compare failed"
                done |= {"type": "fail", "value": value, "error": error}
            else:
                if kind in ("write", "cas"):
                    v += 1
                done |= {"type": "ok", "value": v if kind == "read" else value}
            recs.append(done)
            i, t = i + 1, t + STEP
    recs.sort(key=lambda r: r["time"])
    return [{"index": n, **r} for n, r in enumerate(recs)]


def _events() -> list[dict]:
    return [
        {"time": 0, "event": "run-start"},
        {"time": LOAD[0], "event": "load-start"},
        {
            "time": CUT[0],
            "event": "apply",
            "id": "f1",
            "fault": "cut-region",
            "params": {"region": "beijing"},
            "targets": {"regions": ["beijing"], "nodes": [], "links": []},
            "source": "schedule",
        },
        {"time": CUT[1], "event": "heal", "id": "f1", "fault": "cut-region", "ok": True},
        {"time": LOAD[1], "event": "load-stop"},
        {"time": LOAD[1] + NS // 10, "event": "run-end"},
    ]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    (d / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _history()))
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _events()))
    return d


def test_marker() -> None:
    assert is_cas_mismatch("cas-mismatch") and is_cas_mismatch("cas-mismatch: compare failed")
    # only a leading marker counts: other failures that mention it are not rejections
    assert not is_cas_mismatch("xian-1: HTTP 503: no quorum (cas-mismatch?)")
    assert not is_cas_mismatch("cas-mismatched") and not is_cas_mismatch(None)


def test_rejected_cas_is_served_not_unavailable(run_dir: Path) -> None:
    sc = build_scorecard(load_run(run_dir))
    xian = sc.row("xian", "all").stats
    # 100 operations over 10 s, a quarter of them cas that did not match
    assert (xian.requests, xian.ok, xian.rejected, xian.fail, xian.info) == (100, 75, 25, 0, 0)
    assert xian.success_rate == 1.0  # was 0.75 when a rejected cas counted as a failure
    assert xian.throughput == pytest.approx(10.0)  # served/s over the 10 s load
    assert xian.p99_ms == pytest.approx(20.0)
    (rto_x,) = sc.rto_for("xian")
    assert rto_x.dropped is False and rto_x.rto_s == 0.0  # healthy Xi'an never "dropped"

    # Beijing before the cut: all served; during: the real failures still count.
    before = sc.row("beijing", "before").stats
    assert before.success_rate == 1.0 and before.rejected > 0 and before.fail == 0
    during = sc.row("beijing", "during:f1").stats
    assert during.requests == 20 and during.fail == 20 and during.rejected == 0
    assert during.success_rate == 0.0
    (rto_b,) = sc.rto_for("beijing")
    assert rto_b.dropped is True
    # back at the first served operation after the heal (5.0 s is an invocation time)
    assert rto_b.rto_s == pytest.approx(2.0, abs=0.05)

    everything = sc.row("*", "all").stats
    assert everything.requests == everything.ok + everything.rejected + everything.fail
    row = next(r for r in sc.to_dict()["rows"] if r["region"] == "xian" and r["phase"] == "all")
    assert row["rejected"] == 25 and row["fail"] == 0


def test_checks_and_files_say_rejected(run_dir: Path) -> None:
    checks = {
        "linearizable": True,  # the checker still reads the rejected cas as `fail`
        "availability": [{"region": "xian", "phase": "all", "min": 0.99}],
        "rto": {"region": "xian", "max": "0.5s"},
    }
    rep = evaluate(run_dir, {"name": "cas", "load": {"workload": "cas-register"}, "checks": checks})
    assert rep.passed, rep.failures
    assert rep.linearizability["verdict"] == "linearizable"
    summary = (run_dir / "summary.md").read_text()
    assert "| rejected |" in summary
    doc = json.loads((run_dir / "check.json").read_text())
    xian = next(
        r for r in doc["scorecard"]["rows"] if r["region"] == "xian" and r["phase"] == "all"
    )
    assert (xian["rejected"], xian["success_rate"]) == (25, 1.0)
    assert "<th>rejected</th>" in (run_dir / "report.html").read_text()


def test_live_metrics_label_rejected() -> None:
    m = LiveMetrics()
    for rec in _history():
        m.feed_history(rec)

    def count(outcome: str) -> float:
        return m.registry.get_sample_value(
            "chaoskit_operations_total", {"region": "xian", "f": "cas", "outcome": outcome}
        )

    assert (count("ok"), count("rejected"), count("fail")) == (25, 25, 0)
