"""The panel's "served right now" per region, from the tail of history.jsonl: checked
against an independent count over the whole file, during a cut (Xi'an not served,
the others served), with a torn last line, a file larger than the tail read, and no
file at all."""

from __future__ import annotations

import json
from pathlib import Path

from chaoskit.gameday import health
from chaoskit.gameday.health import recent_health
from chaoskit.testing.synthetic import SyntheticSpec, write_synthetic_run

NS = 1_000_000_000


def independent(history: Path, now: int, window_s: float) -> dict[str, tuple[int, int]]:
    recs = [json.loads(x) for x in history.read_text().splitlines() if x.strip()]
    out: dict[str, tuple[int, int]] = {}
    for r in recs:
        if r["type"] == "invoke" or r.get("phase") == "final":
            continue
        if not now - window_s * NS < r["time"] <= now:
            continue
        ops, served = out.get(r["region"], (0, 0))
        ok = r["type"] == "ok" or str(r.get("error") or "").startswith("cas-mismatch")
        out[r["region"]] = (ops + 1, served + ok)
    return out


def test_recent_health_during_a_cut(tmp_path: Path, monkeypatch) -> None:
    spec = SyntheticSpec(duration_s=8.0, cut_at_s=3.0, cut_for_s=4.0, seed=2)
    run = write_synthetic_run(tmp_path / "run", spec)
    hist = run / "history.jsonl"
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    apply = next(e["time"] for e in events if e["event"] == "apply")
    now = apply + int(3.5 * NS)  # 3.5 s into the 4 s cut: the 2 s window is all cut
    got = recent_health(hist, now, window_s=2.0)
    want = independent(hist, now, 2.0)
    assert {r: (h["ops"], h["served"]) for r, h in got.items()} == want
    assert got["xian"]["rate"] is not None and got["xian"]["rate"] < 0.3, got["xian"]
    for region in ("beijing", "shanghai"):
        assert got[region]["ops"] > 10 and got[region]["rate"] > 0.9, got[region]
        assert 0 < got[region]["p50_ms"] < 1000
    # a torn last line (the writer mid-append) is skipped, not an error
    with hist.open("a") as fh:
        fh.write('{"index": 1, "process": 3, "type": "ok", "f"')
    assert recent_health(hist, now, window_s=2.0) == got
    # a file larger than the tail read: only the tail counts, the cut first line skipped
    monkeypatch.setattr(health, "TAIL_BYTES", 20_000)
    small = recent_health(hist, now, window_s=2.0)
    assert set(small) <= set(got) and all(small[r]["ops"] <= got[r]["ops"] for r in small)
    assert recent_health(tmp_path / "missing.jsonl", now) == {}
