"""The fault timeline's milestones: two that fall close together (load stop, then the
final reads a moment later) get labels that end and start at their own lines, a few
points apart, never printed over each other. (Padding blanks would not do it: SVG
collapses them.)"""

from __future__ import annotations

import re
from pathlib import Path

from chaoskit.report import plots
from chaoskit.report.data import RunData

S = 1_000_000_000


def _text(svg: str, label: str) -> tuple[str, float]:
    """(text-anchor, x) of the <text> element that reads `label`."""
    m = re.search(r'<text[^>]*text-anchor: (\w+)[^>]*x="([\d.]+)"[^>]*>' + label, svg)
    assert m, label
    return m.group(1), float(m.group(2))


def test_close_milestones_keep_apart(tmp_path: Path) -> None:
    run = RunData(
        run_dir=tmp_path,
        ops=[],
        faults=[],
        events=[
            {"event": "load-start", "time": 2 * S},
            {"event": "load-stop", "time": 14 * S},
            {"event": "final-reads", "time": 14 * S + S // 20},
        ],
        load_start_ns=2 * S,
        load_end_ns=14 * S,
        end_ns=14 * S + S // 10,
        regions=["a"],
    )
    svg = plots.timeline(run, [])
    (stop_anchor, stop), (final_anchor, final) = _text(svg, "load stop"), _text(svg, "final reads")
    # "load stop" ends left of its line, "final reads" starts right of its own; the
    # lines are ~2 px apart, the labels' ends at least 6 px
    assert (stop_anchor, final_anchor) == ("end", "start")
    assert final - stop > 6, (stop, final)
