"""`chaoskit report A --compare B` between runs of different shapes: the all-regions
rows come after every region of either run, and a transactional run is summed up by
its isolation verdict rather than "linearizability not checked"."""

from __future__ import annotations

import json
from pathlib import Path

from chaoskit.report.compare import compare, glance


def _row(region: str, phase: str, requests: int) -> dict:
    return {"region": region, "phase": phase, "label": phase, "requests": requests}


def _run(root: Path, name: str, check: dict) -> Path:
    d = root / name / "20260101T000000Z"
    d.mkdir(parents=True)
    (d / "check.json").write_text(json.dumps(check))
    return d


def test_all_regions_last_and_isolation_verdict(tmp_path: Path) -> None:
    txn = _run(
        tmp_path,
        "iso",
        {
            "passed": True,
            "isolation": {"verdict": "invalid", "consistency": "serializable"},
            "scorecard": {"rows": [_row("shanghai", "all", 10), _row("*", "all", 10)]},
        },
    )
    kv = _run(
        tmp_path,
        "kv",
        {
            "passed": True,
            "linearizability": {"verdict": "linearizable"},
            "scorecard": {"rows": [_row("beijing", "all", 5), _row("*", "all", 5)]},
        },
    )
    cmp = compare(txn, kv)
    assert [(r.region, r.phase) for r in cmp.rows] == [
        ("shanghai", "all"),
        ("beijing", "all"),
        ("*", "all"),
    ]
    first = {what: text for what, text, _ in glance(cmp.a.check)}
    assert first.get("isolation") == "invalid (serializable)", first
    assert "linearizability" not in first
    assert {what: text for what, text, _ in glance(cmp.b.check)}["linearizability"] == (
        "linearizable"
    )


def test_a_valid_isolation_verdict_reads_as_good_and_heads_the_html(tmp_path: Path) -> None:
    from chaoskit.report.compare import render_compare_html

    rows = {"rows": [_row("a", "all", 3), _row("*", "all", 3)]}
    ok = {
        "experiment": {"name": "x"},
        "lost_writes": {"count": 0},
        "failures": [],
        "isolation": {"verdict": "valid", "consistency": "serializable"},
        "scorecard": rows,
    }
    a, b = _run(tmp_path, "x", {"passed": True, **ok}), _run(tmp_path, "y", {"passed": True, **ok})
    row = next(r for r in glance(compare(a, b).a.check) if r[0] == "isolation")
    assert row == ("isolation", "valid (serializable)", "r-hi")
    page = render_compare_html(compare(a, b))
    assert "isolation: <b>valid (serializable)</b>" in page and "linearizability" not in page
