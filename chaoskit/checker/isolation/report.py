"""Isolation verdicts for people: the text lines of `chaoskit check`, and a
self-contained HTML page with each anomaly's cycle drawn as a small SVG
(transactions on a circle, edges labelled ww / wr / rw / rt / process).
`txn_workload` (which workload a history holds) lives in the package and is
re-exported here.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from chaoskit.checker.isolation import IsolationResult, txn_workload  # noqa: F401 (re-export)
from chaoskit.checker.isolation.graph import Anomaly

TEXT_PER_KIND = 3  # explained anomalies per class in the terminal; --json/--html give all


def text_lines(result: IsolationResult, path: str) -> list[str]:
    line = f"{path}: {result.summary()} ({result.elapsed_s:.3f} s)"
    if result.verdict == "unknown":
        line += f": {result.reason}"
    out = [line]
    shown: dict[str, int] = {}
    for a in result.anomalies:
        shown[a.kind] = shown.get(a.kind, 0) + 1
        if shown[a.kind] <= TEXT_PER_KIND:
            out.append(f"  {a.kind}: {a.explanation}")
    for kind, n in shown.items():
        if n > TEXT_PER_KIND:
            out.append(f"  ... and {n - TEXT_PER_KIND} more {kind} (every one: --json or --html)")
    if result.allowed:
        kinds = sorted({a.kind for a in result.allowed})
        out.append(f"  also found, allowed by {result.consistency}: {', '.join(kinds)}")
    return out


def anomaly_svg(a: Anomaly, size: int = 220, marker_id: str = "arrow") -> str:
    """A cycle drawn as transactions on a circle with labelled arrows; '' when the
    anomaly is not a cycle. `marker_id` is the arrowhead's id: every drawing in one
    page needs its own (ids are global to the page)."""
    if not a.steps:
        return ""
    names = [s["from"] for s in a.steps]
    n = len(names)
    r = size / 2 - 30
    c = size / 2
    pos = {
        name: (
            c + r * math.cos(2 * math.pi * i / n - math.pi / 2),
            c + r * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i, name in enumerate(names)
    }
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" class="cycle">',
        f'<defs><marker id="{marker_id}" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" '
        'fill="#b33"/></marker></defs>',
    ]
    for s in a.steps:
        (x1, y1), (x2, y2) = pos[s["from"]], pos[s["to"]]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1
        # shorten to the node circles; bend so two opposite edges do not overlap
        sx, sy = x1 + dx / d * 18, y1 + dy / d * 18
        ex, ey = x2 - dx / d * 18, y2 - dy / d * 18
        mx, my = (sx + ex) / 2 - dy / d * 18, (sy + ey) / 2 + dx / d * 18
        parts.append(
            f'<path d="M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}" fill="none" '
            f'stroke="#b33" stroke-width="1.5" marker-end="url(#{marker_id})"/>'
            f'<text x="{mx:.1f}" y="{my:.1f}" font-size="11" text-anchor="middle">'
            f"{html.escape(s['type'])}</text>"
        )
    for name, (x, y) in pos.items():
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="16" fill="#eef" stroke="#335"/>'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="11" text-anchor="middle">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def anomalies_html(doc: dict[str, Any]) -> str:
    """An HTML fragment for a verdict (IsolationResult.to_dict() or the same shape
    read back from check.json): each anomaly with its explanation and drawing."""
    out = [
        f"<p>Isolation: <b>{html.escape(doc['verdict'])}</b> under "
        f"{html.escape(doc['consistency'])} ({html.escape(doc['workload'])}, "
        f"{doc['txns']} transactions)</p>"
    ]
    if doc.get("reason"):
        out.append(f"<p>{html.escape(doc['reason'])}</p>")
    drawn = 0
    for title, items in (("Forbidden", doc["anomalies"]), ("Allowed by the model", doc["allowed"])):
        if not items:
            continue
        out.append(f"<h3>{title}</h3><ol>")
        for a in items:
            anomaly = Anomaly(a["kind"], [], a["explanation"], a.get("steps", []))
            svg = anomaly_svg(anomaly, marker_id=f"cycle-arrow-{drawn}")
            drawn += 1
            out.append(
                f"<li><b>{html.escape(a['kind'])}</b> {svg}"
                f"<p>{html.escape(a['explanation'])}</p></li>"
            )
        out.append("</ol>")
    return "\n".join(out)


def render_html(result: IsolationResult, target: Path, title: str = "isolation") -> None:
    from chaoskit.atomic import atomic_write_text

    body = anomalies_html(result.to_dict())
    atomic_write_text(
        Path(target),
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}"
        "svg.cycle{float:right;margin-left:1em}li{clear:both;margin-bottom:1em}</style>"
        f"<h1>{html.escape(title)}</h1>{body}",
    )
