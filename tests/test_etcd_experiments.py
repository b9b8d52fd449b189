"""The two shipped etcd experiments, run for real with `chaoskit run` in Docker
(shortened with --set), with their verdicts and numbers asserted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.testing.docker import leftovers

pytestmark = [pytest.mark.docker, pytest.mark.etcd, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def run(name: str, tmp_path: Path, *sets: str) -> tuple[int, Path, dict, str]:
    args = [
        CHAOSKIT,
        "run",
        str(ROOT / "experiments" / f"{name}.yaml"),
        "--results",
        str(tmp_path),
        "--quiet",
    ]
    for s in sets:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=280)
    run_dir = Path(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else tmp_path
    assert run_dir.is_dir() and (run_dir / "check.json").is_file(), (p.stdout, p.stderr[-3000:])
    assert not (run_dir / "INCOMPLETE").exists()
    # node logs collected from the containers, the link server's log too
    logs = sorted(f.name for f in (run_dir / "logs").glob("*.log"))
    assert len(logs) == 5 and (run_dir / "links.log").is_file(), logs
    check = json.loads((run_dir / "check.json").read_text())
    return p.returncode, run_dir, check, (run_dir / "summary.md").read_text()


def rto(check: dict, kind: str, region: str) -> float | None:
    for r in check["scorecard"]["rto"]:
        if r["kind"] == kind and r["region"] == region:
            return r["rto_s"]
    raise KeyError((kind, region))


def test_three_regions_leader_region_cut_stays_linearizable(need_docker, tmp_path):
    code, run_dir, check, summary = run(
        "etcd-three-regions",
        tmp_path,
        "load.duration=24s",
        "schedule.0.at=6s",
        "schedule.0.for=10s",
    )
    assert code == 0, summary
    assert check["passed"] is True
    assert check["linearizability"]["verdict"] == "linearizable", check["linearizability"]
    # the majority side recovers within one election (+ load detection windows)
    eu = rto(check, "cut-region", "eu-west")
    assert eu is not None and eu < 20.0
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "apply" and e["fault"] == "cut-region" for e in events)
    # The region cut was the leader's: etcd's own logs show a us-east leader (placed
    # there by leader_region) followed by a leader elected outside us-east.
    leaders = sorted(
        (int(m.group(1)), log.stem)
        for log in (run_dir / "logs").glob("*.log")
        for m in re.finditer(r"became leader at term (\d+)", log.read_text())
    )
    assert any(
        a.startswith("us-east-") and not b.startswith("us-east-")
        for (_, a), (_, b) in zip(leaders, leaders[1:], strict=False)
    ), leaders
    assert leftovers(run_id(run_dir)) == []


def run_id(run_dir: Path) -> str:
    # the engine's RunDir.run_id: "<experiment>-<timestamp dir>"
    return f"{run_dir.parent.name}-{run_dir.name}"


def test_two_cities_degrade_reports_rto_and_lost_writes(need_docker, tmp_path):
    code, run_dir, check, summary = run(
        "etcd-two-cities-degrade",
        tmp_path,
        "load.duration=30s",
        "schedule.0.at=5s",
        "schedule.0.for=14s",
        "schedule.1.at=8s",
        "schedule.1.for=16s",
    )
    assert code == 0, summary
    xian = rto(check, "degrade-quorum", "xian")
    assert xian is not None and 0 < xian < 20.0  # Xi'an serves again after force-new-cluster
    kill_rto = rto(check, "kill", "xian")
    assert kill_rto is not None and kill_rto >= xian  # down from the outage until the degrade
    lost = check["lost_writes"]
    assert isinstance(lost["count"], int) and lost["count"] >= 0, lost
    assert lost["checker"]["acknowledged"] > 0
    assert "Lost writes (RPO)" in summary and "RTO" in summary
    heals = [
        json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines() if '"heal' in x
    ]
    assert all(h.get("ok", True) for h in heals), heals
    assert leftovers(run_id(run_dir)) == []
