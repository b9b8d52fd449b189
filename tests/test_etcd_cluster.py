"""Real etcd in Docker across two regions, driven through the adapter: cluster up,
leader found and moved, client read/write/cas, degrade (force-new-cluster) and
restore (learners promoted)."""

from __future__ import annotations

import time

import pytest
from conftest import docker_ok, need

from chaoskit.testing.docker import leftovers
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology

pytestmark = [pytest.mark.docker, pytest.mark.etcd]


@pytest.fixture
def etcd_cluster():
    need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")
    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.cluster import Cluster
    from chaoskit.systems.etcd.adapter import EtcdAdapter

    topo = build_topology(
        {
            "bj": {"location": "beijing", "zones": {"bj-dc1": 1, "bj-dc2": 1}},
            "xa": {"location": "xian", "zones": {"xa-dc1": 1}},
        },
        clients={"bj": 1, "xa": 1},
        latency={("bj", "xa"): Latency(30.0, 0.0)},
    )
    backend = DockerBackend()
    c = Cluster(topo, EtcdAdapter({"leader_region": "xa"}), backend, ready_timeout_s=60)
    try:
        c.up()
        yield c
    finally:
        c.down()
        assert leftovers(backend.run_id) == []


def member_names(c, want: list[str] | None = None, within_s: float = 15.0) -> list[str]:
    """Voting members as the leader lists them (a member that just joined may still
    apply the latest changes); with `want`, poll until they match or time runs out."""
    end = time.monotonic() + within_s
    while True:
        ask = c.adapter.leader(c.system) or c.system.members[0]
        data = c.adapter._call(c.system, ask, "/v3/cluster/member/list", {})
        names = sorted(m.get("name", "") for m in data["members"] if not m.get("isLearner"))
        if want is None or names == want or time.monotonic() > end:
            return names
        time.sleep(0.3)


@pytest.mark.slow
def test_etcd_up_leader_client_degrade_restore(etcd_cluster):
    c = etcd_cluster
    a, ctx = c.adapter, c.system
    # leader_region: the leadership was moved to Xi'an when the cluster came up
    assert a.roles(ctx) == {"leader": ["xa-1"]}
    assert member_names(c) == ["bj-1", "bj-2", "xa-1"]

    bj, xa = c.client("bj"), c.client("xa")
    assert bj.invoke("read", "k", None).type == "ok" and bj.invoke("read", "k", None).value is None
    assert bj.invoke("write", "k", 1).type == "ok"
    assert xa.invoke("read", "k", None).value == 1  # linearizable read through the link
    assert xa.invoke("cas", "k", [1, 2]).type == "ok"
    failed = bj.invoke("cas", "k", [1, 3])
    assert failed.type == "fail" and failed.error == "cas-mismatch: compare failed"
    assert bj.invoke("cas", "fresh", [None, 7]).type == "ok"
    assert bj.invoke("read", "fresh", None).value == 7

    # Lose Beijing: kill both members; Xi'an alone has no quorum.
    h = c.apply_fault("kill", {"target": {"region": "bj"}})
    out = xa.invoke("write", "k", 4)
    assert out.type == "info", out  # sent, unanswered: may or may not have happened
    # degrade: Xi'an restarts with --force-new-cluster and serves alone
    t = time.monotonic()
    d = c.apply_fault("degrade-quorum", {"survivors": {"region": "xa"}})
    assert ctx.members == ["xa-1"]
    xa2 = c.client("xa")
    assert xa2.invoke("write", "k", 5).type == "ok"
    assert xa2.invoke("read", "k", None).value == 5
    assert time.monotonic() - t < 30
    assert member_names(c) == ["xa-1"]
    # Beijing comes back: its members idle outside the cluster (no second leader)
    assert c.heal(h), h.heal_error
    assert c.backend.is_running("bj-1") and member_names(c) == ["xa-1"]
    # restore: fresh members added as learners, promoted once in sync
    assert c.heal(d), d.heal_error
    assert sorted(ctx.members) == ["bj-1", "bj-2", "xa-1"]
    assert member_names(c, ["bj-1", "bj-2", "xa-1"]) == ["bj-1", "bj-2", "xa-1"]
    bj2 = c.client("bj")
    assert bj2.invoke("read", "k", None).value == 5  # the survivor's data, replicated back
    assert bj2.invoke("write", "k", 6).type == "ok"
    assert a.roles(ctx)["leader"][0] in ctx.members


@pytest.mark.slow
def test_learner_restart_is_recorded_and_a_second_failure_fails_loudly(etcd_cluster):
    """A learner that cannot sync (its region still cut off) is restarted once, clean:
    the restart is an event, and when it fails again the restore fails saying so —
    the retry never hides a real restore failure."""
    from chaoskit.events import EventLog

    c = etcd_cluster
    a, ctx = c.adapter, c.system
    ctx.events = c.events = EventLog(None)
    c.apply_fault("kill", {"target": {"region": "bj"}})
    c.apply_fault("degrade-quorum", {"survivors": {"region": "xa"}})
    assert ctx.members == ["xa-1"]
    c.apply_fault("cut-region", {"region": "bj"})
    a.options["restore_timeout_s"] = 9
    t = time.monotonic()
    with pytest.raises(RuntimeError, match="did not catch up within 9s even after a clean restart"):
        a.restore_quorum(ctx, ["bj-1"])
    assert time.monotonic() - t < 30
    notes = [e for e in c.events._events if e.get("message") == "etcd-learner-restarted"]
    assert [n["node"] for n in notes] == ["bj-1"], c.events._events
    assert 2.5 < notes[0]["after_s"] < 9
    # the cluster is left as it was: the learner removed, Xi'an alone serving
    assert member_names(c) == ["xa-1"] and not c.backend.is_running("bj-1")
    assert c.client("xa").invoke("write", "k", 1).type == "ok"
