"""geokv clusters of real processes on loopback without faults: replication,
routing, quorum reshaping, and the adapter's contract."""

from __future__ import annotations

import time

import pytest

from chaoskit.checker import check_linearizable, read_history
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.testing.geokv import GeoKVCluster, HistoryRecorder, run_load

THREE = {"r1": 1, "r2": 1, "r3": 1}


def _eventually(fn, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached in {timeout}s")
        time.sleep(0.05)


def cas_gen(rng, region):
    key = f"k{rng.randrange(3)}"
    r = rng.random()
    if r < 0.4:
        return "read", key, None
    if r < 0.75:
        return "write", key, rng.randrange(5)
    return "cas", key, [rng.randrange(5), rng.randrange(5)]


@pytest.mark.parametrize("proposer", ["leader", "local"])
def test_quorum_concurrent_load_is_linearizable(tmp_path, proposer):
    rec = HistoryRecorder()
    with GeoKVCluster(THREE, tmp_path, {"mode": "quorum", "proposer": proposer}) as c:
        run_load(c, rec, {"r1": 2, "r2": 2, "r3": 2}, cas_gen, duration_s=3.0)
    hist = read_history(rec.write(tmp_path / "history.jsonl"))
    res = check_linearizable(hist, "cas-register", timeout_s=30)
    assert res.verdict == "linearizable", res.explanation
    assert rec.count("ok") > 100, "load made too little progress"
    # Without faults an outcome is unknown only when dueling proposers left an accept
    # at a minority (honestly reported as info): rare.
    assert rec.count("info") <= rec.count("ok") / 20


def test_quorum_sets_keep_every_acknowledged_add(tmp_path):
    rec = HistoryRecorder()

    def gen(rng, region):
        if rng.random() < 0.2:
            return "read-all", "s", None
        return "add", "s", f"{region}-{rng.randrange(10**9)}"

    with GeoKVCluster(THREE, tmp_path, {"mode": "quorum"}) as c:
        run_load(c, rec, {"r1": 2, "r2": 1, "r3": 1}, gen, duration_s=2.0)
        finals = [set(c.node_client(n).invoke("read-all", "s", None).value) for n in c.nodes]
    acked = {r["value"] for r in rec.records if r["f"] == "add" and r["type"] == "ok"}
    assert acked and all(acked <= f for f in finals)
    res = check_linearizable(read_history(rec.write(tmp_path / "h.jsonl")), "set", timeout_s=30)
    assert res.verdict == "linearizable", res.explanation


def test_lww_replicates_asynchronously_and_converges(tmp_path):
    with GeoKVCluster(THREE, tmp_path, {"mode": "lww", "replication_delay_s": 0.3}) as c:
        w, r = c.node_client("r1-1"), c.node_client("r3-1")
        assert w.invoke("write", "k", "v1").type == "ok"
        assert r.invoke("read", "k", None).value is None  # acknowledged before replication
        _eventually(lambda: r.invoke("read", "k", None).value == "v1", what="r3 sees v1")
        assert r.invoke("add", "s", 1).type == "ok" and w.invoke("add", "s", 2).type == "ok"
        _eventually(
            lambda: sorted(w.invoke("read-all", "s", None).value) == [1, 2], what="set union"
        )


def test_unit_routes_keys_to_their_home_primary(tmp_path):
    # The asynchronous stream is held back 0.5 s, so right after an acknowledgement
    # only the home region's nodes (primary + synchronous replica) hold a write.
    opts = {"mode": "unit", "homes": {"a": "r2", "b": "r1"}, "replication_delay_s": 0.5}
    with GeoKVCluster({"r1": 2, "r2": 2, "r3": 1}, tmp_path, opts) as c:
        assert c.adapter.roles(c.ctx) == {"primary": ["r1-1", "r2-1", "r3-1"]}
        c1, c3 = c.client("r1"), c.client("r3")
        assert c1.invoke("write", "a", 1).type == "ok"  # forwarded r1 -> r2-1
        assert c3.invoke("cas", "a", [1, 2]).type == "ok"
        assert c3.invoke("cas", "a", [1, 3]).type == "fail"
        assert c1.invoke("read", "a", None).value == 2
        # The home primary replicated synchronously inside its region...
        snap = c.adapter._each(c.ctx, ["r2-2"], "GET", "/admin/snapshot", None)["r2-2"]
        assert snap["state"]["data"]["a"][2] == 2
        # ...and asynchronously to the other regions.
        _eventually(
            lambda: (
                c.adapter._each(c.ctx, ["r3-1"], "GET", "/admin/snapshot", None)["r3-1"]["state"][
                    "data"
                ].get("a", [0, 0, 0])[2]
                == 2
            ),
            what="async replica on r3",
        )
        # Keys without an explicit home hash to one: crc32(key) % 3 over the sorted
        # regions puts "h1" in r1 and "h0" in r2 (written here from r3).
        for key, home in (("h1", "r1"), ("h0", "r2")):
            assert c3.invoke("write", key, key).type == "ok"
            snaps = c.adapter._each(c.ctx, c.nodes, "GET", "/admin/snapshot", None)
            holders = sorted(n for n, s in snaps.items() if key in s["state"]["data"])
            assert holders == [f"{home}-1", f"{home}-2"], (key, holders)


def test_degrade_then_restore_quorum(tmp_path):
    with GeoKVCluster(THREE, tmp_path, {"mode": "quorum"}) as c:
        n1, n3 = c.node_client("r1-1"), c.node_client("r3-1")
        assert n1.invoke("write", "k", "before").type == "ok"
        c.kill("r1-1")
        c.kill("r2-1")
        # Two of three gone: the survivor cannot reach a majority and refuses.
        assert n3.invoke("write", "k", "lonely").type == "fail"
        c.adapter.degrade_quorum(c.ctx, ["r3-1"])
        assert c.ctx.members == ["r3-1"]
        assert n3.invoke("write", "k", "degraded").type == "ok"  # availability is back
        # The lost nodes come back empty; restore merges the survivor's state into them.
        c.start("r1-1")
        c.start("r2-1")
        c.wait_ready()
        c.adapter._each(c.ctx, ["r1-1", "r2-1"], "POST", "/admin/members", {"members": ["r3-1"]})
        c.adapter.restore_quorum(c.ctx, ["r1-1", "r2-1"])
        assert c.ctx.members == ["r1-1", "r2-1", "r3-1"]
        n1.close()
        assert n1.invoke("read", "k", None).value == "degraded"
        c.kill("r3-1")  # the two returning nodes alone are a majority now
        assert n1.invoke("read", "k", None).value == "degraded"
        assert n1.invoke("cas", "k", ["degraded", "after"]).type == "ok"


def test_degrade_excludes_non_survivors(tmp_path):
    with GeoKVCluster(THREE, tmp_path, {"mode": "quorum"}) as c:
        c.adapter.degrade_quorum(c.ctx, ["r2-1", "r3-1"])
        out = c.node_client("r1-1").invoke("write", "k", 1)
        assert out.type == "fail" and "not a member" in out.error
        assert c.node_client("r2-1").invoke("write", "k", 2).type == "ok"
        c.adapter.restore_quorum(c.ctx, ["r1-1"])
        assert c.node_client("r1-1").invoke("read", "k", None).value == 2


def test_adapter_contract(tmp_path):
    a = GeoKVAdapter({"mode": "lww", "replication_delay_s": 0.5})
    assert a.kind == "geokv" and a.ports == ("http",) and a.supports_clock_skew
    assert set(a.workloads) == {"register", "cas-register", "set"}
    assert a.validate("local") == []
    assert GeoKVAdapter.check_options(a.options, "local", "register") == []
    problems = GeoKVAdapter.check_options(
        {"mode": "raft", "homes": {"k": "r1"}, "speed": 3, "failover_s": -1}, "local", None
    )
    by_field: dict = {}
    for path, msg in problems:
        by_field[path[0]] = by_field.get(path[0], "") + msg + "\n"
    assert "'raft'" in by_field["mode"] and "valid: quorum, lww, unit" in by_field["mode"]
    assert "unknown geokv option; valid:" in by_field["speed"]
    assert ">= 0" in by_field["failover_s"]
    assert "only meaningful with mode: unit" in by_field["homes"]
    c = GeoKVCluster(THREE, tmp_path, {"mode": "lww", "replication_delay_s": 0.5})
    spec = c.adapter.node_spec("r2-1", c.ctx)
    assert spec.argv[:3] == ["python3", "-m", "chaoskit.systems.geokv"]
    assert not spec.faketime and "--replication-delay-s" in spec.argv  # no clock fault asked
    c.ctx.clock_faults = True
    assert c.adapter.node_spec("r2-1", c.ctx).faketime
    c.ctx.clock_faults = False
    peers = [spec.argv[i + 1] for i, v in enumerate(spec.argv) if v == "--peer"]
    assert sorted(p.split("=")[0] for p in peers) == ["r1-1", "r2-1", "r3-1"]
    with pytest.raises(ValueError, match=r"system.homes.k: 'mars'.*r1, r2, r3"):
        GeoKVAdapter({"mode": "unit", "homes": {"k": "mars"}}).node_spec("r1-1", c.ctx)
    # wait_ready names the node that never came up.
    c.start("r1-1")
    try:
        with pytest.raises(RuntimeError, match="r2-1, r3-1"):
            c.adapter.wait_ready(c.ctx, c.nodes, 0.5)
    finally:
        c.stop()


def test_adapter_clients_spread_over_their_regions_nodes(tmp_path):
    c = GeoKVCluster({"r1": 2, "r2": 1}, tmp_path, {"mode": "lww"})
    picked = {c.client("r1").node for _ in range(4)}
    assert picked == {"r1-1", "r1-2"}  # round-robin, never a node of another region
    assert {c.client("r2").node for _ in range(3)} == {"r2-1"}
    # An explicit node -> region map wins over the naming convention.
    a = GeoKVAdapter({"mode": "lww", "node_regions": {"r1-1": "r2", "r1-2": "r1", "r2-1": "r2"}})
    assert {a.client(c.plan.outside["r2"], "r2", 1.0).node for _ in range(4)} == {"r1-1", "r2-1"}


@pytest.mark.parametrize("mode", ["quorum", "unit"])
def test_acknowledged_state_survives_kill_and_restart(tmp_path, mode):
    """Every node journals its state: a SIGKILLed member comes back knowing what it
    accepted (a quorum acceptor that forgot would break majority intersection)."""
    with GeoKVCluster(
        THREE, tmp_path, {"mode": mode, "homes": {"k": "r2"}} if mode == "unit" else {"mode": mode}
    ) as c:
        if mode == "quorum":
            c.kill("r1-1")
            assert (
                c.node_client("r2-1").invoke("write", "k", "v1").type == "ok"
            )  # at r2-1, r3-1 only
            c.start("r1-1")
            c.kill("r2-1")
            c.start("r2-1")
            c.wait_ready()
            c.kill("r3-1")
            # Majority {r1-1 (never saw v1), r2-1 (restarted)}: v1 must still be there.
            assert c.node_client("r1-1").invoke("read", "k", None).value == "v1"
        else:
            assert c.node_client("r1-1").invoke("write", "k", "v1").type == "ok"  # home r2
            c.kill("r2-1")
            c.start("r2-1")
            c.wait_ready()
            assert c.node_client("r3-1").invoke("cas", "k", ["v1", "v2"]).type == "ok"
    journal = tmp_path / "r2-1-data" / "geokv-state.jsonl"
    assert journal.exists() and '"k"' in journal.read_text()
