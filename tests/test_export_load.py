"""The load side of a Chaos Mesh export, run for real on this machine: the exported
Locust master (chaoskit.export.locust_master) and one worker per region with the
exported commands, against a real geokv cluster reached at the exported Service
names (each name aliased to its own loopback address, where a chaoskit link
forwards to the node, as a Service would). The collected results then go
through `chaoskit export events`, `chaoskit check` and `chaoskit report`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from helpers import free_port

from chaoskit.experiment import load_experiment_text
from chaoskit.export.chaos_mesh import ChaosMeshOptions, export_chaos_mesh
from chaoskit.links.server import LinkServer
from chaoskit.testing.geokv import GeoKVCluster

pytestmark = pytest.mark.slow  # ~20 s: a real 4 s load, then check and report

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")
EXPERIMENT = """
name: k8s-load
backend: local
seed: 2
topology:
  regions:
    r1: {location: frankfurt, zones: {r1-dc1: 1}}
    r2: {location: london, zones: {r2-dc1: 1}}
    r3: {location: paris, zones: {r3-dc1: 1}}
  clients: {r1: 1, r2: 1, r3: 1}
system: {kind: geokv, mode: quorum}
load: {workload: register, keys: 2, duration: 4s, rate: 30, timeout: 1s}
schedule:
  - {at: 1s, for: 2s, fault: cut-region, region: r3}
checks: {linearizable: true}
"""


def test_exported_locust_records_a_history_chaoskit_checks(tmp_path: Path) -> None:
    exp = load_experiment_text(EXPERIMENT)
    port = free_port()
    opts = ChaosMeshOptions({"app": "geokv"}, {"http": port}, master_port=free_port())
    out = export_chaos_mesh(exp, opts)
    locust = {d["kind"] + "/" + d["metadata"]["name"]: d for d in out.manifests["locust.yaml"]}
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    for name, text in locust["ConfigMap/k8s-load-load"]["data"].items():
        (plan_dir / name).write_text(text)
    run = tmp_path / "results"
    procs: list[subprocess.Popen[bytes]] = []
    (tmp_path / "geokv").mkdir()
    with (
        GeoKVCluster({"r1": 1, "r2": 1, "r3": 1}, tmp_path / "geokv", {"mode": "quorum"}) as c,
        LinkServer(host="127.0.0.1", port=0) as links,
    ):
        aliases = []
        for i, node in enumerate(c.nodes):
            address = f"127.0.0.{11 + i}"
            real = c.plan.node_bind[node]["http"]
            proxy = {"name": node, "listen": f"{address}:{port}", "upstream": str(real)}
            requests.post(f"{links.url}/proxies", json=proxy, timeout=5).raise_for_status()
            aliases += ["--host-alias", f"k8s-load-{node}.default.svc={address}"]
        job = locust["Job/k8s-load-locust-master"]["spec"]["template"]["spec"]["containers"][0]
        master_cmd = [sys.executable, *job["command"][1:]]
        master_cmd[master_cmd.index("/plan/load-plan.json")] = str(plan_dir / "load-plan.json")
        master_cmd[master_cmd.index("/results")] = str(run)
        master_cmd[master_cmd.index("--linger") + 1] = "0"
        try:
            procs.append(subprocess.Popen(master_cmd))
            for region in ("r1", "r2", "r3"):
                dep = locust[f"Deployment/k8s-load-locust-{region}"]
                cmd = [
                    sys.executable,
                    *dep["spec"]["template"]["spec"]["containers"][0]["command"][1:],
                ]
                cmd[cmd.index("--master-host") + 1] = "127.0.0.1"
                procs.append(subprocess.Popen(cmd + aliases))
            assert procs[0].wait(timeout=120) == 0
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    ok = [h for h in history if h["type"] == "ok"]
    assert {h["region"] for h in ok} == {"r1", "r2", "r3"} and len(ok) > 30
    assert (run / "DONE").read_text().strip() == "0"
    clock = json.loads((run / "clock.json").read_text())
    start = datetime.fromtimestamp(clock["wall_ns"] / 1e9, tz=UTC).isoformat()
    ev = subprocess.run(
        [CHAOSKIT, "export", "events", str(run), "--workflow-start", start],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ev.returncode == 0 and "2 fault events added" in ev.stderr, ev.stderr
    check = subprocess.run(
        [CHAOSKIT, "check", str(run / "history.jsonl"), "--model", "register"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    report = subprocess.run(
        [CHAOSKIT, "report", str(run), "-q"], capture_output=True, text=True, timeout=120
    )
    assert report.returncode in (0, 1), report.stderr
    assert (run / "report.html").is_file()
    verdict = json.loads((run / "check.json").read_text())["linearizability"]["verdict"]
    assert verdict == "linearizable"
