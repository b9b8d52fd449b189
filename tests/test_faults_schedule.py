"""The scheduler on a real cluster: timed faults at their times, sequences in
order, a random nemesis reproducible from the seed, and a prompt stop."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.events import EventLog
from chaoskit.experiment.spec import FaultSpec, RandomNemesis, Sequence, Timed, Wait
from chaoskit.scheduler import Scheduler
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("sched")
    lat = Latency(2.0, 0.0)
    topo = build_topology(
        {"beijing": 1, "shanghai": 1, "xian": 1},
        latency={("beijing", "shanghai"): lat, ("beijing", "xian"): lat, ("shanghai", "xian"): lat},
    )
    be = LocalBackend(d / "run", registry_root=d / "registry")
    with Cluster(
        topo, GeoKVAdapter({"mode": "quorum"}), be, events=EventLog(d / "events.jsonl"), seed=9
    ) as c:
        yield c


def spec(kind: str, fid: str, **params: object) -> FaultSpec:
    return FaultSpec(kind=kind, params=dict(params), line=None, id=fid)


def _run(c: Cluster, items: list, seconds: float, seed: int = 9) -> tuple[list[dict], float]:
    start = len(c.events.events)
    base = time.monotonic_ns()
    s = Scheduler(items, c.faults, base_ns=base, seed=seed, end_s=seconds)
    s.start()
    time.sleep(seconds)
    t = time.monotonic()
    s.stop()
    stop_took = time.monotonic() - t
    c.heal_all("schedule")
    assert not s.errors, s.errors
    evs = [
        dict(e, rel_s=(e["time"] - (base - c.events.t0_ns)) / 1e9) for e in c.events.events[start:]
    ]
    return evs, stop_took


def test_timed_and_sequence(cluster: Cluster) -> None:
    items = [
        Timed(at_s=0.3, for_s=0.5, fault=spec("cut-region", "t1", region="xian", mode="blackhole")),
        Sequence(
            at_s=0.2,
            steps=[
                Wait(s=0.4),
                Timed(at_s=0.0, for_s=0.4, fault=spec("pause", "s1", target="beijing-1")),
                Timed(
                    at_s=0.0,
                    for_s=None,
                    fault=spec("latency", "s2", links="all", rtt=0.05, jitter=0.0, mode="set"),
                ),
            ],
        ),
        Timed(
            at_s=0.5,
            for_s=None,
            fault=spec("isolate-node", "t2", target="shanghai-1", mode="refuse"),
        ),
    ]
    evs, _ = _run(cluster, items, 2.0)
    when = {(e["event"], e["id"]): e["rel_s"] for e in evs if e["event"] in ("apply", "heal")}
    assert abs(when[("apply", "t1")] - 0.3) < 0.25
    assert abs(when[("heal", "t1")] - 0.8) < 0.3
    assert abs(when[("apply", "s1")] - 0.6) < 0.3
    assert when[("heal", "s1")] <= when[("apply", "s2")], (
        "a sequence step with `for` blocks, then heals"
    )
    assert abs(when[("apply", "t2")] - 0.5) < 0.25
    # faults without `for` stay until the end (then healed by heal_all)
    assert when[("heal", "t2")] > 1.9 and when[("heal", "s2")] > 1.9
    assert not cluster.active_faults()


def test_random_nemesis_reproducible_and_stops_promptly(cluster: Cluster) -> None:
    def nemesis() -> list:
        return [
            RandomNemesis(
                faults=[
                    spec("cut-region", "r1", region="random", mode="refuse"),
                    spec("pause", "r2", target="random-node"),
                    spec("latency", "r3", links="all", rtt=0.02, jitter=0.0, mode="add"),
                ],
                interval_s=0.3,
                for_s=0.15,
                start_s=0.1,
                stop_s=None,
            )
        ]

    def picks(evs: list[dict]) -> list[tuple]:
        return [(e["id"], e["fault"], str(e["targets"])) for e in evs if e["event"] == "apply"]

    a, took = _run(cluster, nemesis(), 1.9, seed=5)
    b, _ = _run(cluster, nemesis(), 1.9, seed=5)
    c, _ = _run(cluster, nemesis(), 1.9, seed=6)
    assert len(picks(a)) >= 4
    assert picks(a)[:4] == picks(b)[:4], "same seed: same faults on the same targets"
    assert picks(a)[:4] != picks(c)[:4]
    assert all("#" in p[0] for p in picks(a)), "each application has its own id"
    assert took < 1.0, f"stop() took {took:.2f} s"
    assert all(e["source"] == "random" for e in a if e["event"] == "apply")
