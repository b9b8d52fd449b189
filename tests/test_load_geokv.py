"""Locust load against a real geokv cluster (3 regions, quorum mode), judged by the checker."""

from __future__ import annotations

import time
from pathlib import Path

import chaoskit.checker as checker
import chaoskit.testing.geokv as testing
from chaoskit.load import LoadPlan, WorkloadSpec, final_reads, start_load, views_from_plan
from chaoskit.load.history import problems, read_records


def _plan(cluster, out: Path, workload: WorkloadSpec, workers: int = 0) -> LoadPlan:
    return LoadPlan(
        system_kind="geokv",
        system_options=dict(cluster.options),
        views=views_from_plan(cluster.plan.outside),
        users={"r1": 2, "r2": 2, "r3": 2},
        workload=workload,
        t0_ns=time.monotonic_ns(),
        out_dir=out,
        workers=workers,
    )


def test_two_worker_distributed_run_on_quorum_geokv_is_one_linearizable_history(
    tmp_path: Path,
) -> None:
    with testing.GeoKVCluster({"r1": 1, "r2": 1, "r3": 1}, tmp_path, {"mode": "quorum"}) as cluster:
        wl = WorkloadSpec(
            "register", keys=3, duration_s=4.0, rate=90.0, read_ratio=0.5, timeout_s=2.0, seed=11
        )
        plan = _plan(cluster, tmp_path / "out", wl, workers=2)
        run = start_load(plan)
        assert run.wait(timeout_s=90) == 0
        final = final_reads(plan)
    assert all(v == {"ok": 3, "failed": 0} for v in final.values()), final
    recs = read_records(plan.history_path)
    assert problems(recs) == []
    load = [r for r in recs if r.get("phase") != "final"]
    assert {r["region"] for r in load} == {"r1", "r2", "r3"}
    assert {r["node"] for r in load} == {
        "r1-1",
        "r2-1",
        "r3-1",
    }  # each region talks to its own node
    oks = [r for r in load if r["type"] == "ok"]
    assert len(oks) > 0.9 * len([r for r in load if r["type"] != "invoke"])  # healthy cluster
    s = run.summary()
    assert s is not None and 60 <= s["ops_per_s"] <= 100, s
    res = checker.check_linearizable(checker.read_history(plan.history_path), "register")
    assert res.verdict == "linearizable", res.explanation


def test_set_workload_final_read_all_finds_every_acknowledged_add(tmp_path: Path) -> None:
    with testing.GeoKVCluster({"r1": 1, "r2": 1, "r3": 1}, tmp_path, {"mode": "quorum"}) as cluster:
        wl = WorkloadSpec(
            "set", keys=2, duration_s=2.5, rate=60.0, read_ratio=0.2, timeout_s=2.0, seed=5
        )
        plan = _plan(cluster, tmp_path / "out", wl)
        assert start_load(plan).wait(timeout_s=60) == 0
        final_reads(plan)
    recs = read_records(plan.history_path)
    assert problems(recs) == []
    acked = {(r["key"], r["value"]) for r in recs if r["type"] == "ok" and r["f"] == "add"}
    assert acked
    fin = [r for r in recs if r.get("phase") == "final" and r["type"] == "ok"]
    assert {r["f"] for r in fin} == {"read-all"} and len(fin) == 2 * 3  # 2 keys from 3 regions
    for r in fin:
        assert {v for k, v in acked if k == r["key"]} <= set(r["value"])
    if hasattr(checker, "analyse_lost_writes"):
        lost = checker.analyse_lost_writes(checker.read_history(plan.history_path), "set")
        assert lost.lost == []
