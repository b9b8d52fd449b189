"""disk-full with `how: fill`: the node's data directory is a small tmpfs that a
filler file fills, so a real process (no shim loaded) gets ENOSPC from the kernel;
after the heal it writes again. On the local backend and in a container."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import one_fault_errors

from chaoskit.backends import datafs
from chaoskit.backends.base import NodeSpec
from chaoskit.backends.local import LocalBackend
from chaoskit.faults.base import FaultContext, FaultError
from chaoskit.faults.catalogue import get_fault
from chaoskit.topology.plan import build_topology

# Appends a new 4 KiB page to a file in the data directory every 20 ms (a tmpfs
# with no free page answers ENOSPC; rewriting pages it already holds would not).
PROBE = """
import os, sys, time
fd = os.open(os.path.join(sys.argv[1], "probe"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
while True:
    try:
        os.write(fd, b"x" * 4096)
        print("write=ok", flush=True)
    except OSError as e:
        print("write=err%d" % e.errno, flush=True)
    time.sleep(0.02)
"""

needs_root = pytest.mark.skipif(
    datafs.why_not_size_limited() is not None, reason=str(datafs.why_not_size_limited())
)


def recent(log: Callable[[], Path], seconds: float = 0.5) -> list[str]:
    """The probe's lines of the next `seconds` (`log()` refreshes the node's log)."""
    mark = len(log().read_text().splitlines())
    time.sleep(seconds)
    return log().read_text().splitlines()[mark + 2 :]


def fill_and_heal(b, topo, plan, log) -> None:  # type: ignore[no-untyped-def]
    ctx = FaultContext(topo, plan, b, links=None, adapter=None, system=None)  # type: ignore[arg-type]
    b.start_node("solo-1", NodeSpec(argv=["python3", "-c", PROBE, "{data_dir}"]))
    time.sleep(1.0)
    got = recent(log)
    assert got and all(line == "write=ok" for line in got), got[:5]
    h = get_fault("disk-full").apply(ctx, {"target": "solo-1", "how": "fill"}, "d1")
    assert h.targets["bytes"]["solo-1"] > (datafs.SIZE_MB - 4) << 20
    got = recent(log)
    assert got and all(line == "write=err28" for line in got), got[:5]
    h.heal()
    got = recent(log)
    assert got and all(line == "write=ok" for line in got), got[:5]
    assert not (b.host_data_dir("solo-1") / datafs.FILLER).exists()


@needs_root
def test_local_node_sees_enospc_then_recovers(tmp_path: Path) -> None:
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    b.data_size_mb = datafs.SIZE_MB
    plan = b.plan(topo, ("http",))
    data = b.host_data_dir("solo-1")
    try:
        b.up(topo, plan)
        fill_and_heal(b, topo, plan, lambda: b.node_log("solo-1"))
        assert os.path.ismount(data)
    finally:
        b.down()
    assert not os.path.ismount(data) and not data.exists()


@needs_root
@pytest.mark.docker
def test_container_sees_enospc_then_recovers(need_docker, tmp_path: Path) -> None:
    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.backends.docker.image import ensure_image
    from chaoskit.testing.docker import leftovers

    ensure_image()
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = DockerBackend(tmp_path / "run", run_id=f"t-{os.getpid()}-{time.monotonic_ns()}")
    b.data_size_mb = datafs.SIZE_MB
    data = b.host_data_dir("solo-1")
    try:
        plan = b.plan(topo, ("http",))
        b.up(topo, plan)
        fill_and_heal(b, topo, plan, lambda: b.node_log("solo-1"))
    finally:
        b.down()
    assert leftovers(b.run_id) == []
    assert not os.path.ismount(data) and not b.workdir.exists()


def test_fill_without_a_size_limited_data_dir_is_an_error(tmp_path: Path) -> None:
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    ctx = FaultContext(topo, b.plan(topo, ("http",)), b, links=None, adapter=None, system=None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="not size-limited"):
        get_fault("disk-full").apply(ctx, {"target": "solo-1", "how": "fill"}, "d1")


def errors(tmp_path: Path, fault: str, kind: str = "geokv") -> list:
    return one_fault_errors(tmp_path, fault, kind)


def test_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (e,) = errors(tmp_path, "disk-full, target: all, how: nope")
    assert e.field == "schedule.0.how" and "fill" in e.message
    if datafs.why_not_size_limited() is None:
        # a real full file system reaches any program, Go's etcd included
        got = errors(tmp_path, "disk-full, target: beijing-1, how: fill", kind="etcd")
        assert [e for e in got if e.field.startswith("schedule")] == []
    monkeypatch.setattr(datafs.os, "geteuid", lambda: 1000)  # as a non-root user
    (e,) = errors(tmp_path, "disk-full, target: all, how: fill")
    assert e.line == 8 and e.field == "schedule.0.how" and "needs root" in e.message
