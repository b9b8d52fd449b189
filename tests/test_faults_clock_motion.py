"""Clocks that move, read through the node (geokv's /health wall_time) on a real
local cluster under libfaketime: drift runs at the rate asked, strobe swings
between its offsets, bump jumps by a seeded offset; each heals to real time."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import one_fault_errors as errors

from chaoskit.backends.clockrate import drift_spec, process_start_epoch
from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.events import EventLog
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.plan import build_topology


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("clock")
    topo = build_topology({"beijing": 2})
    be = LocalBackend(d / "run", registry_root=d / "registry")
    with Cluster(
        topo, GeoKVAdapter({"mode": "lww"}), be, events=EventLog(d / "events.jsonl"), seed=9
    ) as c:
        yield c


def offset(c: Cluster, node: str) -> float:
    """The node's wall clock minus ours, in seconds (its /health `wall_time`)."""
    ep = c.plan.node_bind[node]["http"]
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=2)
    try:
        t0 = time.time()
        conn.request("GET", "/health")
        body = json.loads(conn.getresponse().read())
        t1 = time.time()
    finally:
        conn.close()
    return body["wall_time"] - (t0 + t1) / 2


def test_drift_runs_at_the_rate_and_heals(need_faketime: None, cluster: Cluster) -> None:
    assert abs(offset(cluster, "beijing-1")) < 0.05
    h = cluster.apply_fault("clock-drift", {"target": "beijing-1", "rate": 3.0})
    start = offset(cluster, "beijing-1")
    assert abs(start) < 0.1, "drift starts without a jump"
    time.sleep(1.0)
    gained = offset(cluster, "beijing-1") - start
    assert 1.6 < gained < 2.4, gained  # 2 s gained per real second at x3
    assert abs(offset(cluster, "beijing-2")) < 0.05, "only the target drifts"
    cluster.heal(h)
    assert abs(offset(cluster, "beijing-1")) < 0.05
    time.sleep(0.3)
    assert abs(offset(cluster, "beijing-1")) < 0.05, "real speed again"


def test_strobe_swings_between_offsets(cluster: Cluster) -> None:
    h = cluster.apply_fault(
        "clock-strobe", {"target": "beijing-2", "low": -5.0, "high": 5.0, "period": 0.6}
    )
    seen = set()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and len(seen) < 2:
        o = offset(cluster, "beijing-2")
        seen.add(round(o / 5))  # -1 or +1
        time.sleep(0.05)
    assert seen == {-1, 1}
    cluster.heal(h)
    time.sleep(0.4)  # past the next half-period: the stopped strobe does not flip it again
    assert abs(offset(cluster, "beijing-2")) < 0.05


def test_bump_is_seeded_and_heals(cluster: Cluster) -> None:
    h = cluster.apply_fault("clock-bump", {"target": "all", "max": 10.0}, fault_id="b1")
    offs = h.targets["offsets_ms"]
    for node, ms in offs.items():
        assert -10000 <= ms <= 10000
        assert abs(offset(cluster, node) - ms / 1000) < 0.1
    cluster.heal(h)
    h2 = cluster.apply_fault("clock-bump", {"target": "all", "max": 10.0}, fault_id="b1")
    assert h2.targets["offsets_ms"] == offs, "same seed and id, same bumps"
    cluster.heal(h2)
    assert all(abs(offset(cluster, n)) < 0.05 for n in offs)


def test_drift_spec_cancels_the_elapsed_time() -> None:
    import os

    since = time.time() - process_start_epoch(os.getpid())
    off, rate = drift_spec(os.getpid(), 0.0, 2.0).split()
    assert rate == "x2.000000" and abs(float(off) + since) < 0.05


def test_validation(tmp_path: Path) -> None:
    assert errors(tmp_path, "clock-drift, target: beijing-1, rate: 1.5") == []
    assert errors(tmp_path, "clock-strobe, target: all, low: -1s, high: +1s, period: 2s") == []
    assert errors(tmp_path, "clock-bump, max: 3s") == []
    (e,) = errors(tmp_path, "clock-drift, target: beijing-1, rate: 0")
    assert e.line == 8 and e.field == "schedule.0.rate" and "> 0" in e.message
    (e,) = errors(tmp_path, "clock-strobe, target: all, low: -1s, high: 1s, period: 0s")
    assert e.field == "schedule.0.period"
    (e,) = [
        e
        for e in errors(tmp_path, "clock-drift, target: beijing-1, rate: 2", kind="etcd")
        if e.field == "schedule.0.fault"
    ]
    assert e.line == 8 and "vDSO" in e.message and "clock-drift" in e.message
