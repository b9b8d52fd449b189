"""Disk faults observed by a real node process: a probe that writes and fsyncs a
file in its data directory every 20 ms and logs what the kernel/libc answered.
fsync EIO, slow fsync and a full disk show up in its log while the fault lasts,
and its writes succeed again after the heal. Plus their validation."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from helpers import one_fault_errors as errors

from chaoskit.backends.base import NodeSpec
from chaoskit.backends.local import LocalBackend
from chaoskit.faults.base import FaultContext, FaultError
from chaoskit.faults.catalogue import get_fault
from chaoskit.topology.plan import build_topology

PROBE = """
import os, sys, time
path = os.path.join(sys.argv[1], "probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
while True:
    try:
        os.write(fd, b"x")
        w = "ok"
    except OSError as e:
        w = "err%d" % e.errno
    t = time.monotonic()
    try:
        os.fsync(fd)
        f = "ok"
    except OSError as e:
        f = "err%d" % e.errno
    print("write=%s fsync=%s ms=%d" % (w, f, (time.monotonic() - t) * 1000), flush=True)
    time.sleep(0.02)
"""


def lines_after(log: Path, mark: int) -> list[str]:
    return log.read_text().splitlines()[mark:]


def observe(b: LocalBackend, node: str, seconds: float = 0.5) -> list[str]:
    log = b.node_log(node)
    mark = len(log.read_text().splitlines())
    time.sleep(seconds)
    got = lines_after(log, mark)
    assert got, "the probe logs"
    return got[2:]  # the shim looks at its control file every 20 ms


def test_disk_faults_observed_then_healed(tmp_path: Path) -> None:
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    b.disk_faults = True
    plan = b.plan(topo, ("http",))
    try:
        b.up(topo, plan)
        b.start_node("solo-1", NodeSpec(argv=["python3", "-c", PROBE, "{data_dir}"]))
        ctx = FaultContext(topo, plan, b, links=None, adapter=None, system=None)  # type: ignore[arg-type]
        assert all(line.startswith("write=ok fsync=ok") for line in observe(b, "solo-1"))

        h = get_fault("disk-error").apply(ctx, {"target": "solo-1", "op": "fsync"}, "d1")
        got = observe(b, "solo-1")
        assert got and all("write=ok fsync=err5" in line for line in got), got[:3]
        h.heal()
        assert all("fsync=ok" in line for line in observe(b, "solo-1"))

        h = get_fault("slow-fsync").apply(ctx, {"target": "solo-1", "delay": 0.15}, "d2")
        ms = [int(re.search(r"ms=(\d+)", line).group(1)) for line in observe(b, "solo-1", 1.0)]
        assert ms and min(ms) >= 140, ms
        h.heal()
        ms = [int(re.search(r"ms=(\d+)", line).group(1)) for line in observe(b, "solo-1")]
        assert max(ms) < 100, ms

        full = get_fault("disk-full").apply(ctx, {"target": "solo-1"}, "d3")
        eio = get_fault("disk-error").apply(ctx, {"target": "solo-1", "op": "fsync"}, "d4")
        assert all("write=err28" in line for line in observe(b, "solo-1"))
        full.heal()  # the other fault still wants its fsync errors
        got = observe(b, "solo-1")
        assert all("write=ok fsync=err5" in line for line in got), got[:3]
        eio.heal()
        assert all(line.startswith("write=ok fsync=ok") for line in observe(b, "solo-1"))
        assert not b.disk_control("solo-1").exists()
    finally:
        b.down()


def test_disk_fault_without_the_shim_is_an_error(tmp_path: Path) -> None:
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    ctx = FaultContext(topo, b.plan(topo, ("http",)), b, links=None, adapter=None, system=None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="disk-fault shim"):
        get_fault("disk-full").apply(ctx, {"target": "solo-1"}, "d1")


def test_validation(tmp_path: Path) -> None:
    assert errors(tmp_path, "disk-error, target: beijing-1, op: both, errno: EIO") == []
    assert errors(tmp_path, "disk-full, target: all") == []
    (e,) = errors(tmp_path, "disk-error, target: beijing-1, errno: EPERM")
    assert e.line == 8 and e.field == "schedule.0.errno" and "EIO" in e.message
    (e,) = errors(tmp_path, "slow-fsync, target: beijing-1, delay: 0s")
    assert e.field == "schedule.0.delay"
    (e,) = [
        e
        for e in errors(tmp_path, "disk-full, target: beijing-1", kind="etcd")
        if e.field == "schedule.0.fault"
    ]
    assert e.line == 8 and "without libc" in e.message


@pytest.mark.docker
def test_disk_fault_in_a_container(need_docker, tmp_path: Path) -> None:
    import os

    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.backends.docker.image import ensure_image
    from chaoskit.testing.docker import leftovers

    ensure_image()
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = DockerBackend(tmp_path / "run", run_id=f"t-{os.getpid()}-{time.monotonic_ns()}")
    b.disk_faults = True
    try:
        plan = b.plan(topo, ("http",))
        b.up(topo, plan)
        b.start_node("solo-1", NodeSpec(argv=["python3", "-c", PROBE, "{data_dir}"]))
        ctx = FaultContext(topo, plan, b, links=None, adapter=None, system=None)  # type: ignore[arg-type]
        time.sleep(0.5)
        h = get_fault("disk-error").apply(ctx, {"target": "solo-1", "op": "fsync"}, "d1")
        time.sleep(0.5)
        h.heal()
        time.sleep(0.5)
        lines = b.node_log("solo-1").read_text().splitlines()
        assert any("fsync=err5" in line for line in lines), lines[-5:]
        assert lines[-1].startswith("write=ok fsync=ok"), lines[-5:]
    finally:
        b.down()
    assert leftovers(b.run_id) == []


def test_geokv_sees_write_errors_then_heals(tmp_path: Path) -> None:
    """A real system behind the shim: geokv's journal writes fail with EIO, its
    clients get honest errors (a write: unknown outcome), and after the heal it serves."""
    from chaoskit.cluster import Cluster
    from chaoskit.systems.geokv.adapter import GeoKVAdapter

    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    be.disk_faults = True
    with Cluster(build_topology({"beijing": 3}), GeoKVAdapter({"mode": "quorum"}), be) as c:
        client = c.client("beijing")
        assert client.invoke("write", "k", 1).type == "ok"
        h = c.apply_fault("disk-error", {"target": "all", "op": "write"})
        time.sleep(0.1)  # the shim looks at its control file every 20 ms
        out = client.invoke("write", "k", 2)
        assert out.type == "info" and "Input/output error" in (out.error or ""), out
        c.heal(h)
        time.sleep(0.1)
        assert client.invoke("write", "k", 3).type == "ok"
        assert client.invoke("read", "k", None).value == 3
