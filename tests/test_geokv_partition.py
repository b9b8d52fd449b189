"""geokv under real network faults: a 3-region cluster of geokv processes whose
cross-region traffic runs through chaoskit's link server (Toxiproxy API, with the
geo model's latency), judged by chaoskit's linearizability checker."""

from __future__ import annotations

import threading
import time

from chaoskit.checker import check_linearizable, read_history
from chaoskit.testing.geokv import GeoKVCluster, HistoryRecorder, run_load

THREE = {"r1": 1, "r2": 1, "r3": 1}


def _eventually(fn, timeout=6.0, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached in {timeout}s")
        time.sleep(0.05)


def cas_gen(rng, region):
    key = f"k{rng.randrange(2)}"
    r = rng.random()
    if r < 0.4:
        return "read", key, None
    if r < 0.75:
        return "write", key, rng.randrange(5)
    return "cas", key, [rng.randrange(5), rng.randrange(5)]


def _window(rec, region, start, end):
    """Completions of `region`'s operations invoked after `start` and done before `end`."""
    invoked = {}
    out = []
    for r in rec.records:
        if r["region"] != region:
            continue
        if r["type"] == "invoke":
            invoked[r["process"]] = r["time"]
        elif start <= invoked.get(r["process"], -1) and r["time"] <= end:
            out.append(r)
    return out


def test_quorum_minority_partition_refuses_and_stays_linearizable(tmp_path):
    rec = HistoryRecorder()
    marks = {}
    # Peer timeouts longer than the client's: the node must still answer within the
    # budget the client sends, so refusals arrive as definite `fail`s.
    opts = {"mode": "quorum", "peer_timeout_s": 3.0}
    with GeoKVCluster(THREE, tmp_path, opts, with_links=True) as c:

        def schedule():
            time.sleep(1.5)
            c.links.blackhole("r1")  # r1's links swallow everything: calls time out
            marks["cut"] = rec.now()  # every link is black now (setting them takes a while)
            time.sleep(3.5)
            marks["heal"] = rec.now()  # links start to come back from here on
            c.links.heal()
            marks["healed"] = rec.now()

        t = threading.Thread(target=schedule)
        t.start()
        run_load(c, rec, {"r1": 2, "r2": 1, "r3": 1}, cas_gen, duration_s=8.5, timeout_s=1.0)
        t.join()
    res = check_linearizable(
        read_history(rec.write(tmp_path / "history.jsonl")), "cas-register", timeout_s=60
    )
    assert res.verdict == "linearizable", res.explanation
    cut, heal = marks["cut"] + 100_000_000, marks["heal"]
    minority = _window(rec, "r1", cut, heal)
    kinds = [r["type"] for r in minority]
    assert kinds and "ok" not in kinds, "the minority must refuse"
    # Definitely, except a forward to a key's leader that was already on its way into
    # the hole when it went black (at most one per user): its fate is unknown.
    assert kinds.count("info") <= 2, [(r["type"], r.get("error")) for r in minority]
    assert sum("no quorum" in r.get("error", "") for r in minority) >= 2
    majority = _window(rec, "r2", cut, heal) + _window(rec, "r3", cut, heal)
    assert sum(r["type"] == "ok" for r in majority) >= 10, "the majority must stay available"
    after = _window(rec, "r1", marks["healed"] + 1_000_000_000, 10**19)
    assert any(r["type"] == "ok" for r in after), "r1 must serve again after the heal"


def test_lww_partition_with_concurrent_writers_loses_updates(tmp_path):
    rec = HistoryRecorder()
    counter = iter(range(10**9))

    def gen(rng, region):
        if rng.random() < 0.5:
            return "read", "x", None
        return "write", "x", f"{region}-{next(counter)}"

    with GeoKVCluster(THREE, tmp_path, {"mode": "lww"}, with_links=True) as c:
        c.links.cut("r1")
        run_load(c, rec, {"r1": 1, "r2": 1}, gen, duration_s=1.0, pause_s=0.01)
        c.links.heal()
        # Always available: every operation was acknowledged, on both sides.
        assert rec.count("ok") == rec.count("invoke") > 20
        # And the sides converge once healed (last writer wins everywhere).
        r1, r2 = c.node_client("r1-1"), c.node_client("r2-1")
        _eventually(
            lambda: r1.invoke("read", "x", None).value == r2.invoke("read", "x", None).value
        )
    res = check_linearizable(
        read_history(rec.write(tmp_path / "history.jsonl")), "register", timeout_s=60
    )
    assert res.verdict == "not-linearizable", res.explanation


def test_lww_clock_skew_loses_acknowledged_writes(tmp_path, need_faketime):
    rec = HistoryRecorder()
    # r2-1's wall clock runs 30 s behind (libfaketime, read live from a file).
    with GeoKVCluster(THREE, tmp_path, {"mode": "lww"}, clock_offsets={"r2-1": -30.0}) as c:
        fast, slow = c.node_client("r1-1"), c.node_client("r2-1")
        p0, p1 = rec.new_process(), rec.new_process()
        p0, out = rec.run(p0, fast, "write", "x", "a", "r1")
        assert out.type == "ok"
        _eventually(lambda: slow.invoke("read", "x", None).value == "a", what="replication to r2-1")
        p1, out = rec.run(p1, slow, "write", "x", "b", "r2")
        assert out.type == "ok"  # acknowledged...
        time.sleep(0.5)
        for p, client, region in ((p0, fast, "r1"), (p1, slow, "r2")):
            _, out = rec.run(p, client, "read", "x", None, region)
            assert out.value == "a"  # ...yet lost: its stamp is 30 s older than "a"'s
    res = check_linearizable(
        read_history(rec.write(tmp_path / "history.jsonl")), "register", timeout_s=30
    )
    assert res.verdict == "not-linearizable", res.explanation


def test_unit_cut_region_loses_only_its_own_keys(tmp_path):
    opts = {"mode": "unit", "homes": {"ka": "r1", "kb": "r2", "kc": "r3"}, "peer_timeout_s": 1.0}
    with GeoKVCluster(THREE, tmp_path, opts, with_links=True) as c:
        c1, c2, c3 = c.client("r1"), c.client("r2"), c.client("r3")
        for k in ("ka", "kb", "kc"):
            assert c2.invoke("write", k, 0).type == "ok"
        c.links.cut("r1")
        for client in (c2, c3):
            assert client.invoke("cas", "kb", [0, 0]).type == "ok"
            assert client.invoke("write", "kc", 1).type == "ok"
            out = client.invoke("write", "ka", 1)
            # Certainly not applied: the link refused it, or it was not even sent.
            assert out.type == "fail" and ("refused" in out.error or "not sent" in out.error)
        assert c1.invoke("write", "ka", 2).type == "ok"  # r1 still serves its own keys
        assert c1.invoke("read", "kb", None).type == "fail"
        c.links.heal()
        assert _eventually(lambda: c2.invoke("read", "ka", None).value == 2, what="ka after heal")


def test_unit_failover_serves_a_lost_home_and_loses_unreplicated_writes(tmp_path):
    opts = {"mode": "unit", "homes": {"ka": "r1"}, "failover_s": 1.0, "replication_delay_s": 2.0}
    with GeoKVCluster(THREE, tmp_path, opts, with_links=True, link_latency=False) as c:
        c1, c2 = c.client("r1"), c.client("r2")
        assert c1.invoke("write", "ka", "acked-at-home").type == "ok"
        c.links.cut("r1")  # before the 2 s replication lag has passed
        assert c2.invoke("read", "ka", None).type == "fail"  # not failed over yet
        time.sleep(1.5)
        out = _eventually(
            lambda: (o := c2.invoke("read", "ka", None)).type == "ok" and o, what="failover"
        )
        assert out.value is None  # the home's acknowledged write is lost: the RPO
        assert c2.invoke("write", "ka", "at-backup").type == "ok"
        assert c.client("r3").invoke("read", "ka", None).value == "at-backup"  # r3 follows to r2
        c.links.heal()

        # After the heal every node converges on one value for ka.
        def converged():
            snaps = c.adapter._each(c.ctx, c.nodes, "GET", "/admin/snapshot", None)
            return len({str(s["state"]["data"].get("ka")) for s in snaps.values()}) == 1

        _eventually(converged, timeout=8, what="convergence")


def test_degrade_and_restore_quorum_around_a_real_cut(tmp_path):
    opts = {"mode": "quorum", "peer_timeout_s": 0.5, "op_timeout_s": 2.0}
    with GeoKVCluster(THREE, tmp_path, opts, with_links=True, link_latency=False) as c:
        n1, n3 = c.node_client("r1-1"), c.node_client("r3-1")
        assert n1.invoke("write", "k", "v0").type == "ok"
        c.links.cut("r1")
        c.links.cut("r2")
        assert n3.invoke("write", "k", "v1").type == "fail"  # alone: no majority
        c.adapter.degrade_quorum(c.ctx, ["r3-1"])
        assert n3.invoke("write", "k", "v2").type == "ok"
        assert n1.invoke("read", "k", None).type == "fail"  # not a member any more
        c.links.heal()
        c.adapter.restore_quorum(c.ctx, ["r1-1", "r2-1"])
        assert n1.invoke("read", "k", None).value == "v2"
        assert c.node_client("r2-1").invoke("cas", "k", ["v2", "v3"]).type == "ok"
        assert n3.invoke("read", "k", None).value == "v3"
