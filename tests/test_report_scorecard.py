"""The scorecard's numbers, the RTO and the checks evaluation, on realistic run dirs.

The run directories come from chaoskit.testing.synthetic (a simulated quorum
register with a region cut: the history's times, outcomes and timeouts follow
docs/contracts.md) so that every expected number is known; tests/test_report_real.py
does the same on a real `chaoskit run`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chaoskit.report.checks import ChecksError, checks_from_mapping, evaluate
from chaoskit.report.data import ReportError, load_run
from chaoskit.report.scorecard import build_scorecard, percentile
from chaoskit.testing.synthetic import SyntheticSpec, topology_of, write_synthetic_run


def _raw(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def independent_stats(
    run_dir: Path, region: str, start_ns: int, end_ns: int
) -> tuple[int, float, float]:
    """Requests, success rate and nearest-rank p99 (ms) computed with plain Python."""
    recs = _raw(run_dir / "history.jsonl")
    invokes = {}
    done = []
    for r in recs:
        if r.get("phase") == "final":
            continue
        if r["type"] == "invoke":
            invokes[r["process"]] = r
        else:
            inv = invokes.pop(r["process"])
            done.append((inv, r))
    mine = [(i, c) for i, c in done if i["region"] == region and start_ns <= i["time"] < end_ns]
    # Pending invocations (never completed) count as requests that did not succeed.
    pending = [
        i for i in invokes.values() if i["region"] == region and start_ns <= i["time"] < end_ns
    ]
    n = len(mine) + len(pending)
    ok = sorted((c["time"] - i["time"]) / 1e6 for i, c in mine if c["type"] == "ok")
    rank = math.ceil(0.99 * len(ok))
    return n, len(ok) / n, ok[rank - 1]


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory) -> tuple[Path, SyntheticSpec]:
    spec = SyntheticSpec(duration_s=10.0, cut_at_s=3.0, cut_for_s=4.0, seed=11)
    return write_synthetic_run(tmp_path_factory.mktemp("cut") / "run", spec), spec


def test_scorecard_matches_an_independent_computation(cut_run):
    run_dir, spec = cut_run
    sc = build_scorecard(load_run(run_dir))
    events = {e["event"]: e for e in _raw(run_dir / "events.jsonl")}
    fault_start, fault_end = events["apply"]["time"], events["heal"]["time"]
    for region, phase, (a, b) in [
        ("shanghai", "during:f1", (fault_start, fault_end)),
        ("beijing", "before", (events["load-start"]["time"], fault_start)),
        ("xian", "after", (fault_end, events["load-stop"]["time"])),
    ]:
        row = sc.row(region, phase)
        n, rate, p99 = independent_stats(run_dir, region, a, b)
        assert row.stats.requests == n, (region, phase)
        assert row.stats.success_rate == pytest.approx(rate)
        assert row.stats.p99_ms == pytest.approx(p99)
    # The cut region served nothing while cut: every request timed out (info).
    cut = sc.row("xian", "during:f1").stats
    assert cut.requests > 0 and cut.ok == 0 and cut.info == cut.requests and cut.p99_ms is None
    # All-regions rows add up.
    total = sc.row("*", "all").stats
    assert total.requests == sum(sc.row(r, "all").stats.requests for r in sc.regions)


def test_rto_of_the_cut_region_is_the_cut_and_others_never_dropped(cut_run):
    run_dir, spec = cut_run
    sc = build_scorecard(load_run(run_dir))
    xian = sc.rto_for("xian")[0]
    # Service comes back at the heal (4 s after the cut) plus the clients' next operation.
    assert xian.dropped and spec.cut_for_s <= xian.rto_s <= spec.cut_for_s + 0.3
    for region in ("beijing", "shanghai"):
        r = sc.rto_for(region)[0]
        assert r.rto_s == 0.0 and not r.dropped


def test_rto_never_when_the_region_does_not_come_back(tmp_path):
    # The heal comes too late for the region to be seen serving for one window.
    spec = SyntheticSpec(duration_s=6.0, cut_at_s=2.0, cut_for_s=3.6, seed=2)
    sc = build_scorecard(load_run(write_synthetic_run(tmp_path / "run", spec)))
    xian = sc.rto_for("xian")[0]
    assert xian.rto_s is None and xian.served_again_s is None
    assert xian.display == "never"
    assert xian.outcome == "never recovered before the end of the load"


def test_rto_unconfirmed_when_served_again_too_close_to_the_end_of_the_load(tmp_path):
    # Healed 1 s before the load ends: served again, but two steady windows cannot fit.
    spec = SyntheticSpec(duration_s=6.0, cut_at_s=2.0, cut_for_s=3.0, seed=2)
    sc = build_scorecard(load_run(write_synthetic_run(tmp_path / "run", spec)))
    xian = sc.rto_for("xian")[0]
    assert xian.rto_s is None
    assert spec.cut_for_s <= xian.served_again_s <= spec.cut_for_s + 0.3
    assert xian.display.startswith("unconfirmed (served again at 3.")
    assert "not confirmed" in xian.outcome and "lengthen the load" in xian.outcome


def test_operations_cut_by_the_end_of_the_load_are_not_errors(tmp_path):
    # Regression: an operation still in flight when the load stopped is recorded
    # `info` (the load's STOPPED_IN_FLIGHT marker); it used to count against the
    # `after` phase, so every healthy run showed ~97 % there and an error spike at
    # the very end of the throughput plot.
    from chaoskit.load.history import STOPPED_IN_FLIGHT

    spec = SyntheticSpec(duration_s=6.0, cut_at_s=2.0, cut_for_s=1.0, seed=4)
    run_dir = write_synthetic_run(tmp_path / "run", spec)
    before = build_scorecard(load_run(run_dir))
    run = load_run(run_dir)
    hist = run_dir / "history.jsonl"
    n = sum(1 for _ in hist.open())
    t = run.load_end_ns - 50_000_000
    cut = {"process": 9999, "f": "write", "key": "k0", "value": 1, "region": "xian"}
    with hist.open("a") as fh:
        fh.write(json.dumps({"index": n, "type": "invoke", "time": t, **cut}) + "\n")
        fh.write(
            json.dumps(
                {
                    "index": n + 1,
                    "type": "info",
                    "time": run.load_end_ns,
                    "error": f"{STOPPED_IN_FLIGHT} (GreenletExit)",
                    **cut,
                }
            )
            + "\n"
        )
    after = build_scorecard(load_run(run_dir))
    for phase in ("after", "all"):
        a, b = before.row("xian", phase).stats, after.row("xian", phase).stats
        assert (b.requests, b.info, b.success_rate) == (a.requests, a.info, a.success_rate)
    # still in the history for the checker, as `info`
    assert any(o.cut_by_load_stop and o.type == "info" for o in load_run(run_dir).ops)


def test_percentile_is_nearest_rank():
    xs = [float(i) for i in range(1, 101)]
    assert (
        percentile(xs, 50) == 50.0 and percentile(xs, 99) == 99.0 and percentile(xs, 100) == 100.0
    )
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None


def test_evaluate_passes_and_fails_bounds_with_readable_messages(cut_run):
    run_dir, spec = cut_run
    checks = {
        "linearizable": True,
        "lost_writes": {"max": 0},
        "rto": [{"region": "xian", "max": "2s"}, {"region": "beijing", "max": "1s"}],
        "availability": [
            {"region": "shanghai", "phase": "during", "min": 0.99},
            {"region": "xian", "phase": "during", "min": 0.5},
        ],
        "latency": {"region": "beijing", "phase": "before", "p99": "1ms"},
    }
    rep = evaluate(run_dir, {"name": "cut", "checks": checks}, topology_of(spec))
    by = {(r.check, r.region): r for r in rep.results}
    assert by[("linearizable", None)].passed
    assert by[("lost_writes", None)].passed
    assert not by[("rto", "xian")].passed and "exceeds max 2 s" in by[("rto", "xian")].message
    assert by[("rto", "beijing")].passed
    assert by[("availability", "shanghai")].passed
    assert (
        not by[("availability", "xian")].passed
        and "< min 0.5" in by[("availability", "xian")].message
    )
    assert not by[("latency", "beijing")].passed and "p99" in by[("latency", "beijing")].message
    assert not rep.passed and len(rep.failures) == 3
    # check.json: stable keys, and the numbers are the scorecard's.
    doc = json.loads((run_dir / "check.json").read_text())
    assert doc["schema"] == "chaoskit.check/1"
    assert set(doc) >= {
        "passed",
        "failures",
        "checks",
        "linearizability",
        "lost_writes",
        "scorecard",
        "topology",
        "experiment",
    }
    assert doc["passed"] is False and doc["failures"] == rep.failures
    assert doc["linearizability"]["verdict"] == "linearizable"
    row = next(
        r for r in doc["scorecard"]["rows"] if r["region"] == "xian" and r["phase"] == "during:f1"
    )
    assert (
        row["ok"] == 0 and row["requests"] == rep.scorecard.row("xian", "during:f1").stats.requests
    )
    summary = (run_dir / "summary.md").read_text()
    assert "FAILED" in summary and "| xian |" in summary and "FAIL: rto xian" in summary


def test_known_bad_history_is_caught_with_lost_writes(tmp_path):
    """A stale read and two lost acknowledged writes: both must be reported."""
    spec = SyntheticSpec(
        duration_s=6.0, cut_at_s=2.0, cut_for_s=2.0, seed=5, stale_read=True, lose_writes=2
    )
    run_dir = write_synthetic_run(tmp_path / "bad", spec)
    rep = evaluate(
        run_dir, {"checks": {"linearizable": True, "lost_writes": {"max": 0}}}, topology_of(spec)
    )
    assert not rep.passed
    assert rep.linearizability["verdict"] == "not-linearizable"
    assert rep.scorecard.lost_count == 2
    assert all(w.key == "k0" and w.region for w in rep.scorecard.lost_writes)
    assert any("2 acknowledged writes lost (> max 0)" in f for f in rep.failures)
    assert rep.scorecard.row("*", "all").stats.lost_writes == 2


def test_checks_from_an_experiment(tmp_path):
    """The real ChecksSpec of an experiment YAML is understood (durations, ms, lists)."""
    from chaoskit.experiment import load_experiment_text

    exp = load_experiment_text(
        """
name: t
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
checks:
  linearizable: {model: register, timeout: 30s}
  lost_writes: {max: 3, max_age: 2s}
  rto: {region: xian, max: 10s, threshold: 0.8}
  availability: {region: beijing, phase: during, min: 0.9}
  latency: {region: xian, phase: after, p99: 500ms}
"""
    )
    b = exp.checks
    assert b.linearizable.model == "register" and b.linearizable.timeout_s == 30
    assert b.lost_writes.max == 3 and b.lost_writes.max_age_s == 2
    assert b.rto[0].region == "xian" and b.rto[0].max_s == 10 and b.rto[0].threshold == 0.8
    assert b.availability[0].min == 0.9 and b.availability[0].phase == "during"
    assert b.latency[0].bounds_ms() == {"p99": pytest.approx(500.0)}


def test_bad_bounds_and_bad_files_give_clear_errors(tmp_path):
    # A `checks:` mapping is validated like an experiment file's, with its messages.
    with pytest.raises(
        ChecksError, match=r"checks.rto.max: 'soon' is not a duration with a unit, e.g. 30s"
    ):
        checks_from_mapping({"rto": {"region": "x", "max": "soon"}}, "register", ["x"])
    with pytest.raises(ChecksError, match="latency needs at least one bound: p50, p95 or p99"):
        checks_from_mapping({"latency": {"region": "x"}}, "register", ["x"])
    with pytest.raises(ChecksError, match="region 'y' does not exist"):
        checks_from_mapping({"rto": {"region": "y", "max": "1s"}}, "register", ["x"])
    d = tmp_path / "run"
    d.mkdir()
    with pytest.raises(ReportError, match="no history.jsonl"):
        load_run(d)
    (d / "history.jsonl").write_text(
        '{"index": 0, "process": 1, "type": "invoke", "f": "read", "time": 1}\nnot json\n{}\n'
    )
    with pytest.raises(ReportError, match=r"history.jsonl:2: not valid JSON"):
        load_run(d)


def test_overlapping_faults_many_regions_and_an_unhealed_fault(tmp_path):
    names = ["beijing", "shanghai", "xian", "wuhan", "chengdu", "shenzhen", "hangzhou", "guangzhou"]
    spec = SyntheticSpec(
        regions={n: {f"{n}-dc1": 1} for n in names},
        rtt_ms={
            (a, b): 10.0 + 3 * i + j
            for i, a in enumerate(names)
            for j, b in enumerate(names)
            if a < b
        },
        duration_s=8.0,
        cut_at_s=2.0,
        cut_for_s=3.0,
        users_per_region=1,
        seed=9,
    )
    run_dir = write_synthetic_run(tmp_path / "run", spec)
    extra = [
        {"time": int(3.5e9), "event": "apply", "id": "f2", "fault": "kill", "params": {"target": "wuhan-1"},
         "targets": {"nodes": ["wuhan-1"]}, "source": "gameday-web"},
        {"time": int(6.5e9), "event": "heal", "id": "f2", "fault": "kill", "ok": True, "source": "gameday-web"},
        {"time": int(7.0e9), "event": "apply", "id": "f3", "fault": "latency", "params": {"links": "all", "rtt": 0.2},
         "targets": {"links": []}, "source": "schedule"},
    ]  # fmt: skip
    with (run_dir / "events.jsonl").open("a") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in extra))
    rep = evaluate(
        run_dir,
        {"checks": {"availability": {"region": "all", "phase": "during", "min": 0.0}}},
        topology_of(spec),
    )
    sc = rep.scorecard
    keys = [p.key for p in sc.phases]
    # f3 is never healed: there is no "after" phase.
    assert keys == ["before", "during:f1", "during:f2", "during:f3", "during", "all"]
    during = next(p for p in sc.phases if p.key == "during")
    # f1 [2.2, 5.2) and f2 [3.5, 6.5) merge; f3 (never healed) runs to the end of the load.
    assert during.windows[0] == (int(2.2e9), int(6.5e9)) and during.windows[1][1] == int(8.2e9)
    assert {r.fault for r in sc.rto} == {"f1", "f2", "f3"} and len(sc.rto) == 3 * len(names)
    # Every region has a row per phase, and the "during" availability bound was applied to each.
    assert len([r for r in rep.results if r.check == "availability"]) == len(names)
    html = (run_dir / "report.html").read_text()
    assert "not healed" in html and "gameday-web" in html and "wuhan-1" in html
    assert html.count('class="matrix"') == 1 and "✂ f1" in html


def test_an_interrupted_run_still_renders_and_says_so(tmp_path):
    spec = SyntheticSpec(duration_s=4.0, cut_at_s=1.0, cut_for_s=1.0, seed=6)
    run_dir = write_synthetic_run(tmp_path / "run", spec)
    ev = [
        line
        for line in (run_dir / "events.jsonl").read_text().splitlines()
        if '"run-end"' not in line and '"heal"' not in line
    ]
    (run_dir / "events.jsonl").write_text("\n".join(ev) + "\n")
    (run_dir / "INCOMPLETE").write_text("interrupted by SIGINT")
    with (run_dir / "history.jsonl").open("a") as fh:
        fh.write('{"index": 99999, "process": 1, "type": "ok", "f"')  # the writer died mid-line
    rep = evaluate(run_dir, None, None)
    assert rep.incomplete == "interrupted by SIGINT"
    assert any("torn last line" in w for w in rep.scorecard.warnings)
    assert rep.scorecard.faults[0].healed is None  # shown as "no heal recorded"
    html = (run_dir / "report.html").read_text()
    assert (
        "did not finish normally" in html
        and "interrupted by SIGINT" in html
        and "no heal recorded" in html
    )
    assert 'href="INCOMPLETE"' in html  # the marker is a raw file worth reading here
    assert json.loads((run_dir / "check.json").read_text())["incomplete"] == "interrupted by SIGINT"
    # the terminal scorecard of `chaoskit report` says so too, not only the HTML
    from click.testing import CliRunner

    from chaoskit.report.cli import report as report_cmd

    out = CliRunner().invoke(report_cmd, [str(run_dir)]).output
    assert "INCOMPLETE run: interrupted by SIGINT" in out


def test_a_run_where_nothing_succeeded_does_not_pass_as_linearizable(tmp_path):
    """An all-failed history is trivially linearizable; the bound must still fail."""
    spec = SyntheticSpec(duration_s=4.0, cut_region=None, seed=3)
    run_dir = write_synthetic_run(tmp_path / "dead", spec)
    hist = run_dir / "history.jsonl"
    records = [json.loads(line) for line in hist.read_text().splitlines()]
    for r in records:
        if r["type"] == "ok":
            r["type"] = "fail"
    hist.write_text("".join(json.dumps(r) + "\n" for r in records))
    rep = evaluate(run_dir, {"checks": {"linearizable": True}}, topology_of(spec))
    assert rep.linearizability["verdict"] == "linearizable"  # vacuously, by the checker
    assert not rep.passed
    assert any("vacuous" in f and "no operation completed ok" in f for f in rep.failures)
