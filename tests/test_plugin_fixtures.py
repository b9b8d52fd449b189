"""The plugin's fixtures, run with pytester in a subprocess: a module-scoped cluster
from an inline topology, a region cut under load, a linearizability assertion; a
test that fails with a fault applied leaves nothing behind (faults healed, every
process of the local backend's pid registry gone)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import alive

from chaoskit.pytest_plugin import assert_linearizable

pytest_plugins = ["pytester"]

TEST_MODULE = """
import json, os, time
from pathlib import Path

from chaoskit.pytest_plugin import assert_linearizable

chaoskit_experiment = {
    "topology": {
        "regions": {
            "beijing": {"location": "beijing", "zones": {"bj-dc1": 1}},
            "shanghai": {"location": "shanghai", "zones": {"sh-dc1": 1}},
            "xian": {"location": "xian", "zones": {"xa-dc1": 1}},
        },
        "clients": {"beijing": 1, "shanghai": 1, "xian": 1},
    },
    "system": {"kind": "geokv", "mode": "quorum"},
    "load": {"workload": "register", "keys": 3, "rate": 40, "timeout": "1s"},
}
OUT = Path(os.environ["CHAOSKIT_TEST_OUT"])


def test_cut_region_stays_linearizable(chaoskit_cluster, faults, load):
    with load.run(rate=40) as run:
        assert run.wait_ops(8) >= 8
        with faults.cut_region("xian") as cut:
            assert cut.targets["regions"] == ["xian"]
            time.sleep(1.0)
            # while cut, Xi'an cannot reach a quorum
            out = chaoskit_cluster.client("xian", timeout_s=0.5).invoke("write", "k0", 999)
            assert out.type in ("fail", "info")
        before = run.ops()
        run.wait_ops(before + 5)
    assert len(run.history) > 10
    assert_linearizable(run.history, model="register")
    (OUT / "run_dir").write_text(str(chaoskit_cluster.run_dir))


def test_fails_while_beijing_is_cut(chaoskit_cluster, faults, load):
    pids = chaoskit_cluster.pids()
    with load.run(rate=20) as run:
        pids.update({f"locust-{i}": p for i, p in enumerate(run.pids)})
        (OUT / "pids.json").write_text(json.dumps(pids))
        faults.cut_region("beijing")
        faults.pause({"region": "shanghai"})
        assert False, "deliberate failure with two faults and a load running"
"""


def test_fixture_cluster_cut_and_teardown(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "registry"
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("CHAOSKIT_LOCAL_REGISTRY", str(registry))
    monkeypatch.setenv("CHAOSKIT_TEST_OUT", str(out))
    pytester.makepyfile(test_cluster=TEST_MODULE)
    r = pytester.runpytest_subprocess(
        "--chaoskit-results", str(tmp_path / "results"), "-p", "no:cacheprovider", timeout=180
    )
    r.assert_outcomes(passed=1, failed=1)
    assert "deliberate failure" in r.stdout.str()

    # nothing left behind: the nodes and the link server are gone, the registry removed
    pids = json.loads((out / "pids.json").read_text())
    # three nodes, the link server, Locust
    assert {"beijing-1", "shanghai-1", "xian-1", "links", "locust-0"} <= set(pids)
    for name, pid in pids.items():
        assert not alive(pid), f"{name} (pid {pid}) survived the failing test's teardown"
    assert not registry.exists() or not any(registry.iterdir())

    # the journal: the cut applied and healed, the failing test's faults healed too
    run_dir = Path((out / "run_dir").read_text())
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    applied = {e["id"]: e for e in events if e["event"] == "apply"}
    healed = {e["id"]: e for e in events if e["event"] == "heal"}
    assert [e["fault"] for e in applied.values()] == ["cut-region", "cut-region", "pause"]
    assert set(healed) == set(applied), "every fault was healed"
    assert all(e["source"] == "pytest" for e in applied.values())
    assert events[-1]["event"] == "run-end"
    assert [e["event"] for e in events].count("load-stop") == 2
    assert not (run_dir / "INCOMPLETE").exists()


def test_assert_linearizable_readable_failure() -> None:
    # a stale read: 2 is written and acknowledged, then a later read returns 1
    recs = [
        {"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 1},
        {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 1, "time": 2},
        {"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 2, "time": 3},
        {"process": 0, "type": "ok", "f": "write", "key": "k", "value": 2, "time": 4},
        {"process": 1, "type": "invoke", "f": "read", "key": "k", "value": None, "time": 5},
        {"process": 1, "type": "ok", "f": "read", "key": "k", "value": 1, "time": 6},
    ]
    for i, r in enumerate(recs):
        r["index"] = i
    with pytest.raises(AssertionError) as ei:
        assert_linearizable(recs, model="register")
    msg = str(ei.value)
    assert "NOT-LINEARIZABLE" in msg and "failing key: 'k'" in msg
    # the good prefix passes
    res = assert_linearizable(recs[:4], model="register")
    assert res.verdict == "linearizable"


def test_fixture_without_experiment_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_none="def test_a(chaoskit_cluster):\n    pass\n")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    r.assert_outcomes(errors=1)
    assert "needs a module-level `chaoskit_experiment`" in r.stdout.str()
    assert os.environ.get("CHAOSKIT_TEST_OUT") is None
