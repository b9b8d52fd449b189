"""Bounded teardown: every step within its deadline, a Ctrl-C during teardown forces
it instead of aborting it, and what could not be removed is named together with
the `chaoskit clean --run ID` command that removes it (chaoskit.backends.teardown)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import alive, cpu_load, wait_for

from chaoskit.backends.teardown import Teardown, run_bounded


def _interrupt_main_thread_in(seconds: float) -> threading.Timer:
    """A real SIGINT to this process, delivered to the main thread (Ctrl-C)."""
    t = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_a_hanging_step_is_abandoned_at_its_deadline_and_named():
    td = Teardown("test", "run-x")
    release = threading.Event()
    t = time.monotonic()
    td.step("collect logs", lambda: release.wait(60), 0.5)
    td.removals({"thing a": lambda: None, "thing b": lambda: release.wait(60)}, 0.5)
    report = td.finish()
    release.set()
    assert time.monotonic() - t < 5
    assert report.removed == ["thing a"]
    assert report.left == ["thing b (timed out after 0.5 s)"]
    assert not report.complete
    assert [s.ok for s in report.steps] == [False, True, False]
    assert "could NOT remove 1: thing b" in report.summary()
    assert report.summary().endswith("run `chaoskit clean --run run-x`")


def test_a_failing_removal_is_named_with_its_error():
    td = Teardown("test", "run-y")

    def boom() -> None:
        raise RuntimeError("network has active endpoints")

    td.removals({"network n1": boom}, 5)
    report = td.finish()
    assert report.left == ["network n1 (network has active endpoints)"]
    assert report.to_dict()["clean_command"] == "chaoskit clean --run run-y"


def test_ctrl_c_during_teardown_forces_it_instead_of_aborting_it():
    hurried = []
    td = Teardown("test", "run-z", on_force=lambda: hurried.append(True))
    release = threading.Event()
    timer = _interrupt_main_thread_in(0.3)
    try:
        # The KeyboardInterrupt arrives while the step is waited for: it is absorbed.
        td.step("graceful stop", lambda: release.wait(2.0), 3.0, optional=True)
    finally:
        timer.cancel()
    assert td.forced and hurried == [True]
    # optional steps are skipped from now on; removals still run
    assert td.step("collect logs", lambda: "never", 5, optional=True) is None
    td.removals({"process p": lambda: None}, 5)
    report = td.finish()
    assert report.forced and report.removed == ["process p"]
    assert report.steps[1].error == "skipped (forced)"
    assert "forced" in report.summary()


def test_run_bounded_returns_the_value_or_the_error():
    assert run_bounded(lambda: 42, 5) == 42
    with pytest.raises(ZeroDivisionError):
        run_bounded(lambda: 1 / 0, 5)
    with pytest.raises(TimeoutError, match="timed out after 0.2 s"):
        run_bounded(lambda: time.sleep(5), 0.2)


# -- the local backend: Ctrl-C of a harness on a busy machine -----------------------

LOCAL_HARNESS = """
import sys, time
from pathlib import Path
from chaoskit.backends.base import NodeSpec
from chaoskit.backends.local import LocalBackend
from chaoskit.topology.plan import build_topology
topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 2}}})
b = LocalBackend(Path(sys.argv[1]), run_id=sys.argv[2], registry_root=Path(sys.argv[3]))
b.up(topo, b.plan(topo, ("http",)))
node = "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\ntime.sleep(120)\\n"
for n in ("solo-1", "solo-2"):
    b.start_node(n, NodeSpec(argv=["python3", "-c", node]))
print("up", flush=True)
time.sleep(120)
"""


def test_local_harness_interrupted_under_load_stops_everything(tmp_path: Path):
    registry = tmp_path / "registry"
    rid = f"t-local-int-{os.getpid()}"
    with cpu_load(2):
        p = subprocess.Popen(
            [sys.executable, "-c", LOCAL_HARNESS, str(tmp_path / "run"), rid, str(registry)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert p.stdout is not None and p.stdout.readline().strip() == "up"
            recs = [json.loads(f.read_text()) for f in (registry / rid / "pids").glob("*.json")]
            pids = [r["pid"] for r in recs]
            assert sorted(r["name"] for r in recs) == ["links", "solo-1", "solo-2"]
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert "KeyboardInterrupt" in err, err
    assert "could NOT remove" not in err, err
    wait_for(lambda: not any(alive(pid) for pid in pids), 10, "every process gone")
    assert not (registry / rid).exists(), "the registry of a complete teardown is removed"


def test_local_harness_killed_outright_is_cleaned_by_its_run_id(tmp_path: Path):
    """SIGKILL leaves no chance to tear down: `chaoskit clean --run ID` (here its
    function, on this test's registry) stops exactly that run's processes."""
    from chaoskit.backends.local import cleanup_local_leftovers

    registry = tmp_path / "registry"
    rid = f"t-local-kill-{os.getpid()}"
    p = subprocess.Popen(
        [sys.executable, "-c", LOCAL_HARNESS, str(tmp_path / "run"), rid, str(registry)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "up"
        pids = [json.loads(f.read_text())["pid"] for f in (registry / rid / "pids").glob("*")]
    finally:
        p.kill()
        p.wait()
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    assert cleanup_local_leftovers(registry, run_id="another-run") == []
    assert all(alive(pid) for pid in pids), "another run id touches nothing of this one"
    done = cleanup_local_leftovers(registry, run_id=rid)
    assert len(done) == 3 and all(d.startswith(f"{rid}: killed ") for d in done), done
    wait_for(lambda: not any(alive(pid) for pid in pids), 10, "every process gone")
    assert not (registry / rid).exists()


# -- docker: an engine that stops answering, a network with a stranger attached ------


class SilentEngine:
    """A unix socket that accepts connections and never answers (a wedged dockerd)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(64)
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.docker
def test_docker_teardown_with_a_wedged_engine_is_bounded_and_names_the_rest(need_docker, tmp_path):
    import docker

    from chaoskit.backends.clean_cli import clean
    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.backends.docker.teardown import Deadlines
    from chaoskit.testing.docker import leftovers
    from chaoskit.topology.plan import build_topology

    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    rid = f"t-wedged-{os.getpid()}-{time.monotonic_ns()}"
    b = DockerBackend(tmp_path / "run", run_id=rid)
    b.up(topo, b.plan(topo, ("http",)))
    silent = SilentEngine(tmp_path / "silent.sock")
    try:
        assert len(leftovers(rid)) == 2
        b._client = docker.DockerClient(
            base_url=f"unix://{silent.path}", version="1.41", timeout=300
        )
        b.deadlines = Deadlines(logs_s=1, list_s=1, containers_s=1, networks_s=1, forced_s=1)
        t = time.monotonic()
        report = b.down()
        took = time.monotonic() - t
        assert took < 15, f"teardown took {took:.1f} s with 1 s deadlines"
        assert not report.complete
        assert any("did not list" in x for x in report.left), report.left
        assert f"chaoskit clean --run {rid}" in report.summary()
    finally:
        silent.close()
    # the command it names removes what is left (the owner, this test, is alive: --force)
    res = CliRunner().invoke(clean, ["--run", rid, "--force"])
    assert res.exit_code == 0, res.output
    assert leftovers(rid) == []


@pytest.mark.docker
def test_docker_network_with_a_stranger_attached_is_still_removed(need_docker, tmp_path):
    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.backends.docker.labels import network_name
    from chaoskit.testing.docker import leftovers
    from chaoskit.topology.plan import build_topology

    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    rid = f"t-stranger-{os.getpid()}-{time.monotonic_ns()}"
    b = DockerBackend(tmp_path / "run", run_id=rid)
    b.up(topo, b.plan(topo, ("http",)))
    client = b.client
    # A container of no run of ours, connected to the run's network from outside.
    stranger = client.containers.run(
        b.image,
        ["sleep", "60"],
        detach=True,
        name=f"chaoskit-test-stranger-{os.getpid()}-{time.monotonic_ns()}",
        labels={"chaoskit.test": "stranger"},
    )
    try:
        client.networks.get(network_name(b.short, "solo")).connect(stranger)
        report = b.down()
        assert report.complete, report.summary()
        assert f"network {network_name(b.short, 'solo')}" in report.removed
        assert leftovers(rid) == []
        stranger.reload()
        assert stranger.status == "running", "only its endpoint on our network went"
    finally:
        stranger.remove(force=True)


@pytest.mark.docker
def test_a_network_created_after_teardown_listed_them_is_removed_too(need_docker, tmp_path):
    """A Ctrl-C while the region networks come up leaves a create request in flight;
    dockerd finishes it after teardown has listed the networks (seen in the soak: a
    region network left behind). Here the creation lands right after the first listing,
    on the real engine: the verifying pass finds it and removes it."""
    import docker

    from chaoskit.backends.docker.labels import RUN_LABEL, labels
    from chaoskit.backends.docker.teardown import Deadlines, teardown_run
    from chaoskit.testing.docker import leftovers

    rid = f"t-late-net-{os.getpid()}-{time.monotonic_ns()}"
    real = docker.from_env()
    late_name = f"chaoskit-test-late-{os.getpid()}-{time.monotonic_ns() % 10**6}"

    class LateCreate:
        """The engine's networks, where the run's last network appears just after the
        first listing (as an in-flight create would)."""

        def __init__(self) -> None:
            self.listed = 0

        def list(self, **kw):
            got = real.networks.list(**kw)
            self.listed += 1
            if self.listed == 1:
                real.networks.create(late_name, labels=labels(rid, "network"))
            return got

    class Engine:
        containers = real.containers
        volumes = real.volumes
        networks = LateCreate()

    real.networks.create(f"{late_name}-early", labels=labels(rid, "network"))
    try:
        td = Teardown("docker", rid)
        teardown_run(Engine(), rid, td, Deadlines())
        report = td.finish()
        assert report.complete, report.summary()
        assert f"network {late_name}" in report.removed, report.removed
        assert f"network {late_name}-early" in report.removed, report.removed
        assert leftovers(rid) == []
    finally:
        for n in real.networks.list(filters={"label": f"{RUN_LABEL}={rid}"}):
            n.remove()
