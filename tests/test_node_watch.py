"""A node that dies outside any fault (chaoskit/nodewatch.py), on real `chaoskit run`s
of geokv as a generic system: a node that exits by itself mid-run is recorded (event,
summary, report timeline, check.json) and fails `unexpected_exits`; a scheduled kill
of the same node is not an unexpected exit."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import docker_ok, need
from helpers import CHAOSKIT, run_events

from chaoskit.faults.manager import FaultHandle
from chaoskit.nodewatch import covers

ROOT = Path(__file__).resolve().parent.parent

# geokv, except that the node named in DIES_AT exits by itself (code 9) that many
# seconds after it started: a crash no fault of the schedule explains.
SELF_EXIT = """import os, runpy, sys, threading
name, _, after = os.environ.get('DIES_AT', '').partition('=')
if name and name in sys.argv:
    def die():
        print('node gives up on its own: exit 9', flush=True)
        os._exit(9)
    threading.Timer(float(after), die).start()
sys.argv = ['geokv', *sys.argv[1:]]
runpy.run_module('chaoskit.systems.geokv', run_name='__main__', alter_sys=True)
"""


def _experiment(tmp_path: Path, name: str, dies_at: str, schedule: list[dict]) -> Path:
    exp = yaml.safe_load((ROOT / "experiments" / "generic-geokv.yaml").read_text())
    exp["name"] = name
    exp["system"]["command"] = ["python3", "-c", SELF_EXIT, *exp["system"]["command"][3:]]
    exp["system"]["env"] = {"DIES_AT": dies_at}
    exp["load"]["duration"] = "8s"
    exp["schedule"] = schedule
    exp["checks"] = {"unexpected_exits": {"max": 0}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def _run(tmp_path: Path, path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    registry = tmp_path / "registry"
    r = subprocess.run(
        [CHAOSKIT, "run", str(path), "--results", str(tmp_path / "results"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry), COLUMNS="200"),
    )
    assert not list(registry.glob("*/pids/*.json")), "every process stopped"
    return r, Path(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend",
    ["local", pytest.param("docker", marks=pytest.mark.docker)],
)
def test_a_node_exiting_on_its_own_is_recorded_and_fails_the_check(
    backend: str, tmp_path: Path
) -> None:
    """xian-1 exits with code 9 about 4 s after it started (local: its process;
    docker: its container), during a cut of another region (a network fault: it does
    not explain a process exit)."""
    if backend == "docker":
        need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")
    sched = [{"at": "1s", "for": "5s", "fault": "cut-region", "region": "beijing"}]
    exp = _experiment(tmp_path, "self-exit", "xian-1=4", sched)
    r, run_dir = _run(tmp_path, exp, "--backend", backend)
    assert r.returncode == 1, (r.stdout, r.stderr)
    (ev,) = [e for e in run_events(run_dir) if e["event"] == "node-exit"]
    assert (ev["node"], ev["region"], ev["exit_code"]) == ("xian-1", "xian", 9), ev
    assert ev["how"] == "exit code 9"
    assert "node gives up on its own" in ev["log_tail"]
    check = json.loads((run_dir / "check.json").read_text())
    (res,) = [c for c in check["checks"] if c["check"] == "unexpected_exits"]
    assert res["passed"] is False and res["observed"][0]["node"] == "xian-1", res
    assert [e["node"] for e in check["node_exits"]] == ["xian-1"]
    summary = (run_dir / "summary.md").read_text()
    assert "## Nodes that stopped while no fault covered them" in summary
    assert "xian-1 (xian)" in summary and "exit code 9" in summary
    assert "xian-1 exited" in (run_dir / "report.html").read_text()  # on the timeline
    assert "node xian-1 exited" in r.stderr  # the run's summary table


@pytest.mark.slow
def test_a_scheduled_kill_is_not_an_unexpected_exit(tmp_path: Path) -> None:
    sched = [{"at": "1s", "for": "3s", "fault": "kill", "target": {"node": "xian-1"}}]
    r, run_dir = _run(tmp_path, _experiment(tmp_path, "kill", "", sched))
    assert r.returncode == 0, (r.stdout, r.stderr)
    events = run_events(run_dir)
    assert [e["event"] for e in events if e.get("id") == "f1"] == ["apply", "heal"]
    assert not [e for e in events if e["event"] == "node-exit"]
    check = json.loads((run_dir / "check.json").read_text())
    (res,) = [c for c in check["checks"] if c["check"] == "unexpected_exits"]
    assert res["passed"] is True and res["observed"] == [], res


def _handle(kind: str, **targets: object) -> FaultHandle:
    return FaultHandle("f1", kind, {}, dict(targets), "schedule", 0)


def test_which_faults_explain_a_node_exit() -> None:
    """Process, disk, clock and resource faults explain the exit of the nodes they name
    (or of their regions); network faults never do, even naming the node; a quorum
    change explains any node's; a fault of an unknown kind naming nobody, any."""
    assert covers(_handle("kill", nodes=["xian-1"]), "xian-1", "xian")
    assert not covers(_handle("kill", nodes=["xian-1"]), "beijing-1", "beijing")
    assert covers(_handle("disk-error", nodes=["xian-1"]), "xian-1", "xian")
    assert covers(_handle("clock-skew", nodes=["xian-1"]), "xian-1", "xian")
    assert not covers(_handle("cut-region", regions=["xian"], nodes=["xian-1"]), "xian-1", "xian")
    assert not covers(_handle("latency", links=["a->b"]), "xian-1", "xian")
    assert covers(_handle("degrade-quorum", nodes=["beijing-1"], dropped=["xian-1"]), "x-9", "x")
    assert covers(_handle("someone-elses-fault"), "xian-1", "xian")
    assert not covers(_handle("someone-elses-fault", nodes=["beijing-1"]), "xian-1", "xian")


def test_a_kill_known_only_after_the_node_stopped_still_covers_it(tmp_path: Path) -> None:
    """A kill stops the node before its application returns and its handle exists (a
    watch look can land in between, as on a busy machine in CI). The exit waits for
    the grace, and a fault applied within it covers it; with no such fault it is
    recorded at the time it was seen."""
    import signal
    import time

    from chaoskit.backends.base import NodeSpec
    from chaoskit.backends.local import LocalBackend
    from chaoskit.events import EventLog
    from chaoskit.nodewatch import NodeWatch

    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    events = EventLog(tmp_path / "events.jsonl")
    faults: list[FaultHandle] = []
    try:
        for n in ("a-1", "a-2"):
            be.start_node(n, NodeSpec(argv=["sleep", "60"]))
        watch = NodeWatch(be, {"a-1": "a", "a-2": "a"}, lambda: list(faults), events, grace_s=1)
        watch._last_running = dict.fromkeys(watch.regions, events.now_ns())
        for n in ("a-1", "a-2"):
            os.kill(be.pids()[n], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while len(watch._pending) < 2 and time.monotonic() < deadline:
            for n in ("a-1", "a-2"):
                watch.poll(n)
            time.sleep(0.05)
        seen_stopped = watch._pending["a-1"][1]
        assert watch.judge() == [], "judged before the grace"
        # The kill of a-1 returns now, after the watch saw a-1 stopped.
        faults.append(
            FaultHandle(
                "f1", "kill", {}, {"nodes": ["a-1"]}, "schedule", applied_at_ns=events.now_ns()
            )
        )
        recs = watch.judge(final=True)
    finally:
        be.down()
    assert [r["node"] for r in recs] == ["a-2"], recs
    assert recs[0]["time"] <= seen_stopped + int(1e9) and "SIGKILL" in recs[0]["how"]
    assert [e["node"] for e in events.events if e["event"] == "node-exit"] == ["a-2"]
