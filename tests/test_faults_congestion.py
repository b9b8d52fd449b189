"""The congestion fault on real links: the RTT measured through a link rises to
about the peak at half the period and falls back, then the heal restores the
links exactly. Plus the level curve and validation."""

from __future__ import annotations

import http.client
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.experiment import ExperimentError, load_experiment
from chaoskit.faults.congestion import level_at
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("congestion")
    topo = build_topology(
        {"beijing": 1, "us-east": 1}, latency={("beijing", "us-east"): Latency(4.0, 0.0)}
    )
    be = LocalBackend(d / "run", registry_root=d / "registry")
    with Cluster(topo, GeoKVAdapter({"mode": "lww"}), be, seed=1) as c:
        yield c


def rtt(c: Cluster) -> float:
    ep = c.plan.outside["beijing"]["us-east-1"]["http"]
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=3)
    try:
        t = time.monotonic()
        conn.request("GET", "/health")
        conn.getresponse().read()
        return time.monotonic() - t
    finally:
        conn.close()


def test_rtt_rises_and_falls_then_heals(cluster: Cluster) -> None:
    before = cluster.link_state()
    h = cluster.apply_fault(
        "congestion",
        {"links": {"between": ["beijing", "us-east"]}, "rtt": 0.3, "period": 4.0},
    )
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    while time.monotonic() - start < 4.0:
        samples.append((time.monotonic() - start, rtt(cluster)))
        time.sleep(0.1)
    cluster.heal(h)
    early = [r for t, r in samples if t < 0.5]
    peak = [r for t, r in samples if 1.6 < t < 2.4]
    late = [r for t, r in samples if t > 3.6]
    assert early and max(early) < 0.12, early
    assert peak and min(peak) > 0.2, peak  # ~0.3 s added around the peak
    assert late and min(late) < 0.15, late
    assert rtt(cluster) < 0.05
    assert cluster.link_state() == before, "healed exactly"


def test_level_curve() -> None:
    assert level_at(0, 10) == 0.0
    assert level_at(5, 10) == pytest.approx(1.0)
    assert level_at(2.5, 10) == pytest.approx(0.5)
    assert level_at(10, 10) == pytest.approx(0.0, abs=1e-9)


def test_validation(tmp_path: Path) -> None:
    p = tmp_path / "exp.yaml"
    base = """\
    name: c
    topology: {{regions: {{beijing: 1, us-east: 1}}}}
    load: {{duration: 10s}}
    schedule:
      - {{at: 1s, for: 5s, fault: congestion, links: all, rtt: 150ms, {extra}}}
    """
    p.write_text(textwrap.dedent(base.format(extra="period: 20s, loss: 0.1")))
    load_experiment(p)
    p.write_text(textwrap.dedent(base.format(extra="period: 0s")))
    with pytest.raises(ExperimentError) as ei:
        load_experiment(p)
    (e,) = ei.value.errors
    assert e.line == 5 and e.field == "schedule.0.period"
    p.write_text(textwrap.dedent(base.format(extra="period: 5s, loss: 2")))
    with pytest.raises(ExperimentError) as ei:
        load_experiment(p)
    assert ei.value.errors[0].field == "schedule.0.loss"


def test_stalls_at_the_peak(cluster: Cluster) -> None:
    before = cluster.link_state()
    h = cluster.apply_fault(
        "congestion",
        {"links": {"between": ["beijing", "us-east"]}, "rtt": 0.0, "loss": 1.0, "period": 3.0},
    )
    name = "beijing->us-east-1:http"

    def stall_toxicity() -> float:
        toxics = cluster.link_state()[name].get("toxics", [])
        return max((t["toxicity"] for t in toxics if "stall" in t["name"]), default=0.0)

    deadline = time.monotonic() + 3.0
    while stall_toxicity() < 0.8:  # the peak is at 1.5 s
        assert time.monotonic() < deadline, cluster.link_state()[name]
        time.sleep(0.05)
    ep = cluster.plan.outside["beijing"]["us-east-1"]["http"]
    stalled = 0
    for _ in range(3):  # a new connection's bytes are held: the client times out
        conn = http.client.HTTPConnection(ep.host, ep.port, timeout=0.2)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
        except OSError:
            stalled += 1
        finally:
            conn.close()
    assert stalled >= 1
    cluster.heal(h)
    assert rtt(cluster) < 0.05
    assert cluster.link_state() == before
