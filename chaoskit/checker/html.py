"""A self-contained HTML view of a history: one lane per process, operations as
bars on a time axis, the failing operation and its conflicting neighbours
highlighted. Inline CSS/SVG and a few lines of inline JS (hover details, key
filter); nothing is fetched when the file is opened.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from chaoskit.atomic import atomic_write_text
from chaoskit.checker.history import History, Op
from chaoskit.checker.models import show

# Beyond this many operations only the failing key (or the first ops) are drawn:
# a browser struggles with hundreds of thousands of SVG elements.
MAX_DRAWN = 4000
LANE_H = 18
LEFT = 90
WIDTH = 1400

_CSS = """
body{font:13px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 6px}
.verdict{font-weight:bold;padding:2px 8px;border-radius:4px}
.v-linearizable{background:#d8f5d8}.v-not-linearizable{background:#f9d0d0}.v-unknown{background:#f5ecc8}
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;max-width:1400px}
svg text{font-size:11px;fill:#333}
rect.op{stroke:#555;stroke-width:.5}
rect.ok{fill:#9cc9f5}rect.info{fill:url(#hatch);stroke-dasharray:3 2}rect.fail{fill:#ddd}
rect.failing{fill:#e53935;stroke:#800;stroke-width:2}
rect.conflict{fill:#ffb74d;stroke:#a65c00;stroke-width:1.2}
rect.dim,text.dim{opacity:.15}
#tip{position:fixed;background:#fffbe6;border:1px solid #aaa;padding:4px 6px;pointer-events:none;display:none;font:12px monospace;white-space:pre}
.legend span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;border:1px solid #555}
"""

_JS = """
const tip=document.getElementById('tip');
document.querySelectorAll('rect.op').forEach(r=>{
 r.addEventListener('mousemove',e=>{tip.textContent=r.dataset.d;tip.style.display='block';
  tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
 r.addEventListener('mouseleave',()=>{tip.style.display='none';});
});
const sel=document.getElementById('key');
function dim(){const k=sel.value;
 document.querySelectorAll('rect.op,text.lbl').forEach(r=>{r.classList.toggle('dim',k!=='*'&&r.dataset.k!==k);});}
if(sel){sel.addEventListener('change',dim);dim();}
"""


def _t(op_time: int | None, pos: int) -> float:
    return float(op_time) if op_time is not None else float(pos)


def render_html(history: History, result: Any, path: str | Path) -> None:
    """Write the visualisation of `history` (and `result`, a LinearizabilityResult
    or None) to `path`, atomically."""
    atomic_write_text(Path(path), html_text(history, result))


def html_text(history: History, result: Any = None) -> str:
    ops = list(history.ops)
    use_time = all(op.call_time is not None for op in ops) and bool(ops)
    violation = getattr(result, "violation", None)
    failing: Op | None = violation.op if violation is not None else None
    conflict_ids = {o.id for o in violation.conflicting} if violation is not None else set()
    note = ""
    if len(ops) > MAX_DRAWN:
        if failing is not None:
            fk = failing.key
            keyed = [o for o in ops if o.key == fk]
            # a window of the failing key's ops around the failure
            idx = keyed.index(failing) if failing in keyed else 0
            lo = max(0, idx - MAX_DRAWN // 2)
            ops = keyed[lo : lo + MAX_DRAWN]
            note = f"Showing {len(ops)} of {len(history.ops)} operations: key {show(fk)} around the failure."
        else:
            ops = ops[:MAX_DRAWN]
            note = f"Showing the first {MAX_DRAWN} of {len(history.ops)} operations."
    end_pos = len(history.records)
    end_time = history.end_time() if use_time else None

    def start(op: Op) -> float:
        return _t(op.call_time if use_time else None, op.call)

    def stop(op: Op) -> float:
        if op.ret is not None:
            return _t(op.ret_time if use_time else None, op.ret)
        if use_time:
            return float(end_time if end_time is not None else op.call_time or 0)
        return float(end_pos)

    if ops:
        t_min = min(start(o) for o in ops)
        t_max = max(max(stop(o) for o in ops), t_min + 1)
    else:
        t_min, t_max = 0.0, 1.0
    procs: dict[Any, int] = {}
    for o in sorted(ops, key=lambda o: _proc_order(o.process)):
        procs.setdefault(o.process, len(procs))
    height = 40 + LANE_H * max(1, len(procs))
    scale = (WIDTH - LEFT - 10) / (t_max - t_min)

    def x(t: float) -> float:
        return LEFT + (t - t_min) * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e8e0f8"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#9575cd" stroke-width="2"/></pattern></defs>',
    ]
    # time axis: 10 ticks
    for i in range(11):
        t = t_min + (t_max - t_min) * i / 10
        label = f"{t / 1e9:.3f}s" if use_time else f"#{int(t)}"
        parts.append(
            f'<line x1="{x(t):.1f}" y1="20" x2="{x(t):.1f}" y2="{height}" stroke="#eee"/>'
            f'<text x="{x(t):.1f}" y="14" text-anchor="middle">{label}</text>'
        )
    for p, lane in procs.items():
        y = 24 + lane * LANE_H
        parts.append(f'<text x="4" y="{y + 12}">p {html.escape(show(p))}</text>')
    for o in ops:
        y = 24 + procs[o.process] * LANE_H
        x0 = x(start(o))
        w = max(2.0, x(stop(o)) - x0)
        cls = ["op", o.type]
        if failing is not None and o.id == failing.id:
            cls.append("failing")
        elif o.id in conflict_ids:
            cls.append("conflict")
        when = ""
        if o.call_time is not None:
            when = f"\ninvoked {o.call_time / 1e9:.6f} s"
            if o.ret_time is not None:
                when += f", completed {o.ret_time / 1e9:.6f} s"
        out = (
            f" -> {show(o.output)}" if o.f in ("read", "get", "read-all") and o.type == "ok" else ""
        )
        detail = (
            f"#{o.id} process {show(o.process)} key {show(o.key)}\n{o.f} {show(o.value) if not out else ''}"
            f"{out} [{o.type}]\nline {o.call_line}{when}"
        )
        label = f"{o.f}{out or (' ' + show(o.value))}"
        parts.append(
            f'<rect class="{" ".join(cls)}" x="{x0:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{LANE_H - 4}" data-k="{html.escape(json.dumps(_keyval(o.key)))}" '
            f'data-d="{html.escape(detail)}"/>'
        )
        if w > 7 * len(label):
            parts.append(
                f'<text class="lbl" x="{x0 + 3:.1f}" y="{y + 11}" pointer-events="none" '
                f'data-k="{html.escape(json.dumps(_keyval(o.key)))}">{html.escape(label)}</text>'
            )
    parts.append("</svg>")

    verdict = getattr(result, "verdict", None)
    title = html.escape(history.path or "history")
    head = f"<h1>{title}</h1>"
    if verdict:
        head += (
            f'<p><span class="verdict v-{verdict}">{verdict}</span> '
            f"model {html.escape(getattr(result, 'model', ''))}, {len(history.ops)} operations, "
            f"{getattr(result, 'keys_checked', 0)} key(s) checked</p>"
        )
        expl = getattr(result, "explanation", "")
        if expl:
            head += f"<pre>{html.escape(expl)}</pre>"
    keys = sorted({json.dumps(_keyval(o.key)) for o in ops})
    selector = ""
    if len(keys) > 1:
        fk = json.dumps(_keyval(failing.key)) if failing is not None else None
        opts = "".join(
            f'<option value="{html.escape(k)}"{" selected" if k == fk else ""}>{html.escape(k)}</option>'
            for k in keys
        )
        selector = f'<p>Key: <select id="key"><option value="*">all</option>{opts}</select></p>'
    legend = (
        '<p class="legend">'
        '<span style="background:#9cc9f5"></span>ok'
        '<span style="background:#e8e0f8"></span>info (pending to the end)'
        '<span style="background:#ddd"></span>fail'
        '<span style="background:#e53935"></span>cannot be linearized'
        '<span style="background:#ffb74d"></span>conflicting neighbours</p>'
    )
    if note:
        legend += f"<p>{html.escape(note)}</p>"
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>"
        f"{head}{selector}{legend}<div style='overflow-x:auto'>{''.join(parts)}</div>"
        f'<div id="tip"></div><script>{_JS}</script></body></html>\n'
    )


def _proc_order(p: Any) -> tuple[int, Any]:
    # numeric processes in numeric order, then the rest by their text
    if isinstance(p, int) and not isinstance(p, bool):
        return (0, p)
    return (1, repr(p))


def _keyval(k: Any) -> Any:
    if isinstance(k, tuple):
        return [_keyval(x) for x in k]
    return k
