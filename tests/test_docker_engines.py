"""Regions spread over several Docker engines: two real extra dockerd started here
(chaoskit.backends.docker.scratch: own socket, data root, exec root, pid file and
bridge each), the machine's engine as the third. Links cross engines through
published ports and still carry each link's latency and faults; the etcd
three-region experiment gives the same verdict as on one engine; nothing is left
on any engine, also after Ctrl-C; `chaoskit clean --engines` reaches every engine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import docker_ok, need

from chaoskit.testing.docker import leftovers

pytestmark = [pytest.mark.docker, pytest.mark.etcd, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")
SHORT = ("load.duration=16s", "schedule.0.at=4s", "schedule.0.for=6s")
ECHO = (
    "import socket,sys\n"
    "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('0.0.0.0',int(sys.argv[1])));s.listen()\n"
    "while 1:\n c,_=s.accept();c.recv(1);c.sendall(sys.argv[2].encode());c.close()"
)
ASK = (
    "import socket,sys,time\nt=time.monotonic()\n"
    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),float(sys.argv[3]))\n"
    "s.sendall(b'?');d=s.recv(64)\nprint(d.decode(), round((time.monotonic()-t)*1000, 1))"
)


@pytest.fixture(scope="module")
def engines():
    """Two scratch Docker engines with the node image loaded; stopped (and their
    bridges and iptables rules removed) at the end of the module."""
    need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")
    need("root, dockerd and ip", os.geteuid() == 0 and bool(shutil.which("dockerd")), "run as root")
    from chaoskit.backends.docker.image import ensure_image
    from chaoskit.backends.docker.scratch import ScratchEngine

    tag = ensure_image(log=lambda m: None).tag
    started: list[ScratchEngine] = []
    try:
        for _ in range(2):
            e = ScratchEngine().start()
            started.append(e)
            e.load_image(tag)  # docker save | docker load
        yield started
    finally:
        for e in started:
            e.stop()
        for e in started:
            assert not e.dir.exists()
            out = subprocess.run(["ip", "link", "show", e.bridge], capture_output=True)
            assert out.returncode != 0, f"bridge {e.bridge} left behind"


def engine_leftovers(engine) -> list[str]:
    client = engine.client()
    flt = {"label": "chaoskit=1"}
    return [c.name for c in client.containers.list(all=True, filters=flt)] + [
        n.name for n in client.networks.list(filters=flt)
    ]


def run_id(run_dir: Path) -> str:
    return f"{run_dir.parent.name}-{run_dir.name}"


def chaoskit_run(tmp: Path, *extra: str) -> tuple[int, Path, dict]:
    args = [CHAOSKIT, "run", str(ROOT / "experiments/etcd-three-regions.yaml"), "-q"]
    args += ["--results", str(tmp), *extra]
    for s in SHORT:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=240)
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    assert (run_dir / "check.json").is_file(), p.stderr[-3000:]
    return p.returncode, run_dir, json.loads((run_dir / "check.json").read_text())


def test_links_cross_engines_with_latency_and_faults(engines, tmp_path):
    """A request from us-east (machine engine) to eu-west-1 (scratch engine) pays the
    link's RTT; cutting the link (on us-east's engine) stops it; healing restores it;
    the uncut control path (node_bind) and the reverse direction work."""
    from chaoskit.backends.base import NodeSpec
    from chaoskit.backends.docker.engines import EngineRef, MultiEngineBackend
    from chaoskit.topology.model import Latency
    from chaoskit.topology.plan import build_topology

    topo = build_topology(
        {"us-east": {"location": "us-east", "zones": {"a": 1}}, "eu-west": 1},
        latency={("eu-west", "us-east"): Latency(120.0)},
    )
    be = MultiEngineBackend(
        tmp_path, run_id=f"ckt-{os.getpid()}", engines={"eu-west": EngineRef(engines[0].url)}
    )
    try:
        plan = be.plan(topo, ("echo",))
        links = be.link_control(be.up(topo, plan))
        links.wait_ready(10)
        links.build(plan)
        for n in topo.nodes:
            port = str(be.layout.ports[n.name]["echo"])
            be.start_node(n.name, NodeSpec(argv=["python3", "-c", ECHO, port, n.name], env={}))
        to_eu = plan.links[("us-east", "eu-west-1", "echo")]
        port = str(to_eu.listen.port)

        def ask(node: str, peer: str, p: str, timeout: str = "3") -> tuple[int, str]:
            deadline = time.monotonic() + 15
            while True:
                code, out = be.exec(node, ["python3", "-c", ASK, peer, p, timeout])
                if code == 0 or time.monotonic() > deadline or timeout != "3":
                    return code, out
                time.sleep(0.3)

        code, out = ask("us-east-1", "eu-west-1", port)
        assert code == 0 and out.split()[0] == "eu-west-1", out
        assert float(out.split()[1]) >= 120.0, out  # a request and its reply: the link's RTT
        assert to_eu.upstream.port != be.layout.ports["eu-west-1"]["echo"]  # via a published port
        links.cut([to_eu.name])
        code, out = ask("us-east-1", "eu-west-1", port, timeout="1.5")
        assert code != 0 and "timed out" in out, out
        links.heal([to_eu.name])
        code, out = ask("us-east-1", "eu-west-1", port)
        assert code == 0 and out.startswith("eu-west-1"), out
        back = plan.links[("eu-west", "us-east-1", "echo")]
        code, out = ask("eu-west-1", "us-east-1", str(back.listen.port))
        assert code == 0 and out.startswith("us-east-1"), out
        state = links.state()
        assert set(state) == {s.name for s in plan.links.values()}  # relays are not links
        assert state[to_eu.name]["cut"] is None
        # clock skew, pause and kill act on the node's own engine
        scratch = engines[0].client()
        clock = NodeSpec(argv=["sleep", "600"], env={}, faketime=True)
        be.start_node("eu-west-1", clock)
        be.set_clock_offset("eu-west-1", 3_600_000.0)  # one hour ahead
        code, out = be.exec("eu-west-1", ["python3", "-c", "import time; print(time.time())"])
        assert code == 0 and float(out) - time.time() > 3500, out
        on_scratch = scratch.containers.get(be._container("eu-west-1").id)
        be.pause_node("eu-west-1")
        on_scratch.reload()
        assert on_scratch.status == "paused"
        be.resume_node("eu-west-1")
        be.kill_node("eu-west-1")
        on_scratch.reload()
        assert on_scratch.status == "exited" and not be.is_running("eu-west-1")
    finally:
        be.down()
    assert engine_leftovers(engines[0]) == [] and leftovers(be.run_id) == []


def test_etcd_three_regions_same_verdict_on_three_engines(engines, tmp_path):
    one_code, one_dir, one = chaoskit_run(tmp_path / "one")
    spread = f"eu-west={engines[0].url},ap-northeast={engines[1].url}"
    code, run_dir, check = chaoskit_run(tmp_path / "three", "--engines", spread)
    assert (code, check["passed"]) == (one_code, one["passed"]) == (0, True), check["failures"]
    verdict = check["linearizability"]["verdict"]
    assert verdict == one["linearizability"]["verdict"] == "linearizable"
    rto = {(r["kind"], r["region"]): r["rto_s"] for r in check["scorecard"]["rto"]}
    assert rto[("cut-region", "eu-west")] is not None and rto[("cut-region", "eu-west")] < 20
    links_log = (run_dir / "links.log").read_text()
    assert links_log.count("=== links container on engine") == 3
    for e in engines:
        assert engine_leftovers(e) == []
    assert leftovers(run_id(run_dir)) == [] and leftovers(run_id(one_dir)) == []


def test_ctrl_c_leaves_nothing_on_any_engine(engines, tmp_path):
    spread = f"eu-west={engines[0].url},ap-northeast={engines[1].url}"
    args = [CHAOSKIT, "run", str(ROOT / "experiments/etcd-three-regions.yaml"), "-q"]
    args += ["--results", str(tmp_path), "--engines", spread, "--set", "load.duration=60s"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        events = None
        while time.monotonic() < deadline and p.poll() is None:
            found = list(tmp_path.glob("etcd-three-regions/2*/events.jsonl"))
            if found and '"load-start"' in found[0].read_text():
                events = found[0]
                break
            time.sleep(0.3)
        assert events is not None, "the load never started"
        assert all(engine_leftovers(e) for e in engines)  # each engine carries its region
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 3, err[-2000:]
    for e in engines:
        assert engine_leftovers(e) == []
    assert leftovers(run_id(events.parent)) == []


def test_clean_reaches_every_engine(engines):
    """Leftovers of a dead harness on a scratch engine are found by `clean --engines`."""
    client = engines[1].client()
    lbl = {"chaoskit": "1", "chaoskit.run": "ckt-dead-run", "chaoskit.pid": "999999999"}
    net = client.networks.create("chaoskit-ckt-dead-run-x", labels=lbl)
    client.containers.create(
        client.images.list()[0].id, ["true"], name="chaoskit-ckt-dead-run-n", labels=lbl
    )
    out = subprocess.run(
        [CHAOSKIT, "clean", "--run", "ckt-dead-run", "--engines", f"x={engines[1].url}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"docker {engines[1].url}: removed 1 container(s), 1 network(s)" in out.stdout
    assert engine_leftovers(engines[1]) == []
    del net
