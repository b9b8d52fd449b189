"""report.html's lost-writes card: the loss window's own end, and the takeover inside
it, are both named (a window that outlasts the promotion, because the deposed primary
kept acknowledging, must not read as if it ended at the promotion)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from chaoskit.report.checks import evaluate

S = 1_000_000_000


def test_card_names_the_window_end_and_the_promotion(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    recs = []
    for p, typ, mops, t in [
        (0, "invoke", [["append", "x", 1]], 2.0),
        (0, "ok", [["append", "x", 1]], 2.0),
        (0, "invoke", [["append", "x", 2]], 12.0),
        (0, "ok", [["append", "x", 2]], 12.0),
        (1, "invoke", [["r", "x", None]], 20.0),
        (1, "ok", [["r", "x", []]], 20.0),
    ]:
        recs.append(
            {"index": len(recs), "process": p, "type": typ, "f": "txn", "value": mops,
             "time": int(t * S), "region": "a"}
        )  # fmt: skip
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    events = [
        {"time": 1 * S, "event": "roles", "changed": {"primary": [None, ["a-1"]]}, "initial": True},
        {"time": 9 * S, "event": "roles", "changed": {"primary": [["a-1"], ["b-1"]]}},
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    exp = {"name": "t", "load": {"workload": "list-append"}, "checks": {"lost_writes": {"max": 0}}}
    rep = evaluate(run, exp)
    assert rep.scorecard.lost_count == 2, rep.failures
    page = re.sub(r"\s+", " ", (run / "report.html").read_text())
    assert "loss window 10.0 s (2 writes, 2.0 s → 12.0 s, promotion at 9.0 s)" in page, page
