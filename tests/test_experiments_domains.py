"""The zone and majorities-ring experiments, run for real (bounded short runs):
a lost data centre leaves its city serving; a majorities ring keeps geokv quorum
linearizable and is caught on geokv lww."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_engine_experiments import row, rto, run


@pytest.mark.slow
def test_zone_lost_city_keeps_serving(tmp_path: Path) -> None:
    code, _, check, events = run("zone-lost", tmp_path, "load.duration=12s", "schedule.0.for=6s")
    assert code == 0, check["failures"]
    assert check["linearizability"]["verdict"] == "linearizable"
    assert row(check, "beijing", "during")["success_rate"] > 0.9
    assert rto(check, "f1", "beijing") < 1.0
    applied = next(e for e in events if e["event"] == "apply")
    assert applied["targets"]["zones"] == ["bj-dc1"]
    assert "beijing->beijing-1:http" in applied["targets"]["links"]
    assert "beijing->beijing-3:http" not in applied["targets"]["links"]


@pytest.mark.slow
@pytest.mark.parametrize("mode,code", [("quorum", 0), ("lww", 1)])
def test_majorities_ring(tmp_path: Path, mode: str, code: int) -> None:
    got, _, check, _ = run("majorities-ring", tmp_path, f"system.mode={mode}", "load.duration=10s")
    assert got == code
    verdict = check["linearizability"]["verdict"]
    assert verdict == ("linearizable" if mode == "quorum" else "not-linearizable")


@pytest.mark.slow
@pytest.mark.parametrize("drift", [True, False])
def test_lww_clock_drift_loses_acknowledged_writes(tmp_path: Path, drift: bool) -> None:
    sets = ("load.duration=10s",) if drift else ("load.duration=10s", "schedule=[]")
    code, _, check, _ = run("lww-clock-drift", tmp_path, *sets)
    lost = check["lost_writes"]["checker"]["lost"]
    if drift:
        assert code == 1 and len(lost) > 0, "the slow clock's acknowledged writes are lost"
        assert {w["node"] for w in lost} == {"beijing-1"}
    else:
        assert code == 0 and lost == []


@pytest.mark.slow
def test_deep_nemesis_heals_everything(tmp_path: Path) -> None:
    code, _, check, events = run("deep-nemesis", tmp_path)
    assert code == 0, check["failures"]
    applied = [e for e in events if e["event"] == "apply"]
    healed = {e["id"] for e in events if e["event"] == "heal" and e.get("ok", True)}
    assert len(applied) >= 6 and {e["id"] for e in applied} <= healed
    assert {e["fault"] for e in applied} >= {"cut-zone", "one-way"}
