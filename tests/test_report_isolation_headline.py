"""report.html's headline of a transactional run: the first card gives the isolation
verdict (with the anomaly classes, and whether the experiment expected them) rather
than "Linearizability: not checked"."""

from __future__ import annotations

import re
from pathlib import Path

from test_isolation_experiment import _run_dir

from chaoskit.report.checks import evaluate


def _first_card(page: str) -> str:
    m = re.search(r'<section id="headline">.*?<div class="card">(.*?)</div></div>', page, re.S)
    assert m, page[:2000]
    return re.sub(r"<[^>]+>", " ", m.group(1))


def test_an_unexpected_anomaly_heads_the_report(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, "G2-item")
    exp = {
        "name": "t",
        "load": {"workload": "list-append"},
        "checks": {"isolation": "serializable"},
    }
    assert not evaluate(run, exp).passed
    card = _first_card((run / "report.html").read_text())
    assert "Isolation" in card and "invalid" in card and "G2-item found" in card, card
    assert "Linearizability" not in card and "expected" not in card, card


def test_an_expected_anomaly_says_so(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, "G2-item")
    exp = {
        "name": "t",
        "load": {"workload": "list-append"},
        "checks": {"isolation": {"consistency": "serializable", "expect": ["G2-item"]}},
    }
    assert evaluate(run, exp).passed
    card = _first_card((run / "report.html").read_text())
    assert "invalid" in card and "expected by this experiment" in card, card


def test_a_clean_history_is_valid(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, None)
    exp = {
        "name": "t",
        "load": {"workload": "list-append"},
        "checks": {"isolation": "serializable"},
    }
    assert evaluate(run, exp).passed
    card = _first_card((run / "report.html").read_text())
    assert "Isolation" in card and "valid" in card and "invalid" not in card, card


def test_each_drawn_cycle_sits_beside_its_explanation(tmp_path: Path) -> None:
    # an inline SVG would push its list number and title down to the drawing's foot
    run = _run_dir(tmp_path, "G2-item")
    exp = {
        "name": "t",
        "load": {"workload": "list-append"},
        "checks": {"isolation": "serializable"},
    }
    evaluate(run, exp)
    page = (run / "report.html").read_text()
    assert 'class="cycle"' in page
    assert re.search(r"#isolation svg\.cycle\s*\{[^}]*float:\s*right", page)
