"""Resource faults on real containers: the CPU quota and memory limit the kernel
enforces (read from the container's own cgroup), throttling observed while a
stress-ng CPU hog runs under the quota, then everything healed. And their
refusal on the local backend, at its line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import experiment_errors

from chaoskit.backends.base import NodeSpec
from chaoskit.faults.base import FaultContext
from chaoskit.faults.catalogue import get_fault
from chaoskit.testing.docker import leftovers
from chaoskit.topology.plan import build_topology

NODE = ["python3", "-c", "import time\nwhile True: time.sleep(0.5)"]


def cgroup(b, node: str, name: str) -> str:
    """A cgroup file of the node's container, as the container sees it (v1 or v2)."""
    v1 = {
        "quota": "cpu/cpu.cfs_quota_us",
        "throttled": "cpu/cpu.stat",
        "mem": "memory/memory.limit_in_bytes",
    }
    v2 = {"quota": "cpu.max", "throttled": "cpu.stat", "mem": "memory.max"}
    code, out = b.exec(
        node,
        ["sh", "-c", f"cat /sys/fs/cgroup/{v1[name]} 2>/dev/null || cat /sys/fs/cgroup/{v2[name]}"],
    )
    assert code == 0, out
    return out.strip()


def throttled(b, node: str) -> int:
    stat = dict(line.split() for line in cgroup(b, node, "throttled").splitlines())
    return int(stat.get("nr_throttled", 0))


def hogs(b, node: str) -> int:
    code, out = b.exec(node, ["sh", "-c", "pgrep -c -x stress-ng || true"])
    return int(out.strip() or 0)


@pytest.mark.docker
def test_cpu_quota_memory_limit_and_hog_then_healed(need_docker, tmp_path: Path) -> None:
    from chaoskit.backends.docker.backend import DockerBackend
    from chaoskit.backends.docker.image import ensure_image

    ensure_image()
    topo = build_topology({"solo": {"location": "beijing", "zones": {"solo-a": 1}}})
    b = DockerBackend(tmp_path / "run", run_id=f"t-{os.getpid()}-{time.monotonic_ns()}")
    try:
        plan = b.plan(topo, ("http",))
        b.up(topo, plan)
        b.start_node("solo-1", NodeSpec(argv=NODE))
        ctx = FaultContext(topo, plan, b, links=None, adapter=None, system=None)  # type: ignore[arg-type]
        assert "-1" in cgroup(b, "solo-1", "quota") or "max" in cgroup(b, "solo-1", "quota")

        cpu = get_fault("cpu-limit").apply(ctx, {"target": "solo-1", "cpus": 0.2}, "f1")
        assert cgroup(b, "solo-1", "quota").split()[0] == "20000"
        mem = get_fault("memory-limit").apply(ctx, {"target": "solo-1", "memory_mb": 96}, "f2")
        assert int(cgroup(b, "solo-1", "mem")) == 96 * 1024 * 1024
        before = throttled(b, "solo-1")
        hog = get_fault("cpu-hog").apply(ctx, {"target": "solo-1", "workers": 2}, "f3")
        assert hogs(b, "solo-1") >= 1
        time.sleep(1.5)
        assert throttled(b, "solo-1") > before + 5, "the hog is throttled by the quota"

        hog.heal()
        assert hogs(b, "solo-1") == 0
        mem.heal()
        assert int(cgroup(b, "solo-1", "mem")) > 1 << 30 or cgroup(b, "solo-1", "mem") == "max"
        cpu.heal()
        quota = cgroup(b, "solo-1", "quota")
        assert quota.startswith("-1") or quota.startswith("max")

        io = get_fault("io-hog").apply(ctx, {"target": "solo-1"}, "f4")
        assert hogs(b, "solo-1") >= 1
        io.heal()
        assert hogs(b, "solo-1") == 0
    finally:
        b.down()
    assert leftovers(b.run_id) == []


EXP = """\
name: res
backend: {backend}
topology:
  regions:
    beijing: {{zones: {{bj-dc1: 3}}}}
system: {{kind: geokv}}
load: {{duration: 10s}}
schedule:
  - {{at: 1s, for: 2s, fault: {fault}}}
"""


def errors(tmp_path: Path, fault: str, backend: str) -> list:
    return experiment_errors(tmp_path, EXP.format(fault=fault, backend=backend))


def test_resource_faults_refused_on_local(tmp_path: Path) -> None:
    (e,) = errors(tmp_path, "cpu-limit, target: beijing-1, cpus: 0.5", "local")
    assert e.line == 9 and "use backend: docker" in e.message
    assert errors(tmp_path, "cpu-limit, target: beijing-1, cpus: 0.5", "docker") == []
    (e,) = errors(tmp_path, "cpu-limit, target: beijing-1, cpus: 0", "docker")
    assert e.field == "schedule.0.cpus"
    (e,) = errors(tmp_path, "memory-limit, target: beijing-1, memory_mb: 2", "docker")
    assert e.field == "schedule.0.memory_mb"
