"""Transactional workloads in experiments: `load.txn` and `checks.isolation` are
validated with file:line errors; the run's verdict lands in check.json and
report.html (each anomaly with its explained, drawn cycle); the load package's
Workload produces transactions for f="txn" clients."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pytest

from chaoskit import systems
from chaoskit.experiment import ExperimentError, load_experiment
from chaoskit.load.plan import WorkloadSpec
from chaoskit.load.workloads import UniqueValues, Workload, final_ops
from chaoskit.report.checks import evaluate
from chaoskit.systems.base import SystemAdapter
from chaoskit.testing.txn_simulate import inject, simulate

EXP = """\
name: txn
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
  clients: {beijing: 2}
system: {kind: txndb}
load:
  workload: list-append
  keys: 4
  duration: 5s
  txn: {length: [1, 3], key_dist: exponential, max_writes_per_key: 16}
checks:
  isolation: serializable
"""


class TxnAdapter(SystemAdapter):
    """A system whose client runs transactions (for validation only)."""

    kind = "txndb"
    workloads = ("list-append", "rw-register", "bank")

    def node_spec(self, node, ctx):  # pragma: no cover - never run
        raise NotImplementedError

    def wait_ready(self, ctx, nodes, deadline_s):  # pragma: no cover
        raise NotImplementedError

    def client(self, view, region, timeout_s):  # pragma: no cover
        raise NotImplementedError


@pytest.fixture
def txndb(monkeypatch):
    entry = systems.SystemEntry("txndb", f"{__name__}:TxnAdapter", "tests")
    monkeypatch.setitem(systems.entries(), "txndb", entry)


def _load(tmp_path: Path, text: str):
    p = tmp_path / "exp.yaml"
    p.write_text(textwrap.dedent(text))
    return load_experiment(p, [])


def _errors(tmp_path: Path, text: str) -> list:
    with pytest.raises(ExperimentError) as ei:
        _load(tmp_path, text)
    return ei.value.errors


def test_good_txn_experiment(tmp_path, txndb):
    exp = _load(tmp_path, EXP)
    assert exp.checks.isolation.consistency == "serializable"
    assert exp.load.txn == {
        "min_len": 1,
        "max_len": 3,
        "key_dist": "exponential",
        "max_writes_per_key": 16,
    }
    exp = _load(
        tmp_path,
        EXP.replace(
            "isolation: serializable", "isolation: {consistency: strict-snapshot-isolation}"
        ),
    )
    assert exp.checks.isolation.consistency == "strict-snapshot-isolation"


@pytest.mark.parametrize(
    "old,new,line,field,words",
    [
        (
            "isolation: serializable",
            "isolation: serialisable",
            13,
            "checks.isolation",
            "did you mean 'serializable'",
        ),
        (
            "isolation: serializable",
            "isolation: {model: serializable}",
            13,
            "checks.isolation.model",
            "valid fields: consistency",
        ),
        (
            "isolation: serializable",
            "linearizable: true",
            13,
            "checks.linearizable",
            "check it with isolation",
        ),
        ("[1, 3]", "[3, 1]", 11, "load.txn.length", "1 <= min <= max"),
        (
            "key_dist: exponential",
            "key_dist: zipf",
            11,
            "load.txn.key_dist",
            "valid: uniform, exponential",
        ),
        (
            "max_writes_per_key: 16",
            "max_writes: 16",
            11,
            "load.txn.max_writes",
            "valid fields: length, key_dist, max_writes_per_key",
        ),
    ],
)
def test_bad_txn_experiment(tmp_path, txndb, old, new, line, field, words):
    (e,) = _errors(tmp_path, EXP.replace(old, new))
    assert (e.line, e.field) == (line, field), str(e)
    assert words in e.message, e.message


def test_isolation_needs_a_transactional_workload(tmp_path, txndb):
    text = EXP.replace("workload: list-append", "workload: register").replace(
        "  txn: {length: [1, 3], key_dist: exponential, max_writes_per_key: 16}\n", ""
    )
    errs = _errors(tmp_path, text)
    assert any(e.field == "checks.isolation" and "load.workload" in e.message for e in errs)


def test_workload_makes_transactions():
    spec = WorkloadSpec(workload="list-append", keys=3, txn={"min_len": 2, "max_len": 2})
    w = Workload(spec, UniqueValues(), random.Random(1))
    seen = [w.next_op() for _ in range(50)]
    assert all(f == "txn" and key is None and len(v) == 2 for f, key, v in seen)
    appended = [m[2] for _, _, v in seen for m in v if m[0] == "append"]
    assert appended and len(appended) == len(set(appended))  # unique values
    assert final_ops("list-append", 3) == [
        ("txn", None, [["r", "k0", None], ["r", "k1", None], ["r", "k2", None]])
    ]


def _run_dir(tmp_path: Path, anomaly: str | None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    events = simulate(7, 60, keys=3, concurrency=3)
    if anomaly:
        events = inject(events, anomaly, 3)
    lines = []
    for i, e in enumerate(events):
        lines.append(
            json.dumps(
                {
                    "index": i,
                    "process": e["process"],
                    "type": e["type"],
                    "f": "txn",
                    "value": e["value"],
                    "time": i * 1_000_000,
                    "region": "beijing",
                }
            )
        )
    (run / "history.jsonl").write_text("\n".join(lines) + "\n")
    (run / "events.jsonl").write_text("")
    return run


def test_verdict_in_check_json_and_report(tmp_path):
    exp = {
        "name": "t",
        "load": {"workload": "list-append"},
        "checks": {"isolation": "serializable"},
    }
    run = _run_dir(tmp_path, "G2-item")
    rep = evaluate(run, exp)
    assert not rep.passed
    (res,) = [r for r in rep.results if r.check == "isolation"]
    assert "not serializable: G2-item" in res.message and "T" in res.message
    doc = json.loads((run / "check.json").read_text())
    assert doc["isolation"]["anomaly_types"] == ["G2-item"]
    assert doc["isolation"]["anomalies"][0]["steps"][0]["type"] == "rw"
    page = (run / "report.html").read_text()
    assert 'id="isolation"' in page and "<svg" in page and "G2-item" in page
    # snapshot isolation allows write skew: the same run passes
    exp["checks"]["isolation"] = {"consistency": "snapshot-isolation"}
    assert evaluate(run, exp, write=False).passed


def test_clean_run_passes(tmp_path):
    exp = {
        "name": "t",
        "load": {"workload": "list-append"},
        "checks": {"isolation": "strict-serializable"},
    }
    rep = evaluate(_run_dir(tmp_path, None), exp, write=False)
    assert rep.passed, rep.failures


def test_lost_appends_fail_the_rpo_bound(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    recs = []
    for p, typ, mops in [
        (0, "invoke", [["append", "x", 1]]),
        (0, "ok", [["append", "x", 1]]),
        (1, "invoke", [["r", "x", None]]),
        (1, "ok", [["r", "x", []]]),
    ]:
        recs.append(
            {
                "index": len(recs),
                "process": p,
                "type": typ,
                "f": "txn",
                "value": mops,
                "time": len(recs) * 1_000_000,
                "region": "beijing",
            }
        )
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (run / "events.jsonl").write_text("")
    exp = {"name": "t", "load": {"workload": "list-append"}, "checks": {"lost_writes": {"max": 0}}}
    rep = evaluate(run, exp, write=False)
    assert not rep.passed and rep.scorecard.lost_count == 1, rep.failures


def test_lost_writes_only_for_list_append(tmp_path, txndb):
    text = EXP.replace("workload: list-append", "workload: rw-register").replace(
        "isolation: serializable", "lost_writes: {max: 0}"
    )
    (e,) = _errors(tmp_path, text)
    assert e.field == "checks.lost_writes" and "not for 'rw-register'" in e.message
    assert _load(tmp_path, EXP.replace("isolation: serializable", "lost_writes: true"))
