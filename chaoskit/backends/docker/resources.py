"""Resource faults on a node's container: CPU and memory limits (`docker update`)
and hungry neighbours (stress-ng run inside the container).

A limit records what the container had and puts it back at heal. Docker cannot
remove a memory limit once set (`docker update` refuses 0 and -1), so a container
that had none gets the host's physical memory as its limit at heal: no limit in
effect. A hog is one stress-ng process started in the container's own process
namespace; its pid there is what the heal stops (stress-ng ends its workers on
SIGTERM), and it goes with the container at teardown anyway.
"""

from __future__ import annotations

import os
from typing import Any

CPU_PERIOD_US = 100_000
HOG_ARGS = {
    # --cpu N: N workers spinning on one CPU each
    "cpu": lambda n: ["--cpu", str(n)],
    # --hdd N: N workers writing and unlinking files under /tmp (the container's own
    # filesystem), 32 MiB each, synced: an I/O-hungry neighbour on the same disk.
    "io": lambda n: [
        "--hdd",
        str(n),
        "--hdd-bytes",
        "32M",
        "--hdd-opts",
        "sync",
        "--temp-path",
        "/tmp",
    ],
}


def host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def current_limits(container: Any) -> dict[str, int]:
    container.reload()
    hc = container.attrs["HostConfig"]
    return {
        "cpu_quota": int(hc.get("CpuQuota") or 0),
        "cpu_period": int(hc.get("CpuPeriod") or 0),
        "mem_limit": int(hc.get("Memory") or 0),
        "memswap_limit": int(hc.get("MemorySwap") or 0),
    }


def limit(
    container: Any, cpus: float | None = None, memory_mb: float | None = None
) -> dict[str, int]:
    """Apply the limits; returns what the container had before (for `restore`)."""
    before = current_limits(container)
    kw: dict[str, int] = {}
    if cpus is not None:
        kw |= {"cpu_period": CPU_PERIOD_US, "cpu_quota": max(1000, int(cpus * CPU_PERIOD_US))}
    if memory_mb is not None:
        size = int(memory_mb * 1024 * 1024)
        kw |= {"mem_limit": size, "memswap_limit": size}  # no swap to escape to
    container.update(**kw)
    return before


def restore(container: Any, before: dict[str, int]) -> None:
    """Put the limits back. cgroup v1 refuses a memory limit above the memory+swap
    limit, so the swap limit goes up first, then the memory, then the swap to its
    old value (-1: unlimited)."""
    container.update(
        cpu_quota=before["cpu_quota"] if before["cpu_quota"] > 0 else -1,
        cpu_period=before["cpu_period"] or CPU_PERIOD_US,
    )
    now = current_limits(container)["mem_limit"]
    mem = before["mem_limit"] or host_memory_bytes()
    if now == mem:
        return
    room = 2 * max(mem, now)
    container.update(mem_limit=now, memswap_limit=room)
    container.update(mem_limit=mem, memswap_limit=room)
    container.update(
        mem_limit=mem, memswap_limit=before["memswap_limit"] if before["mem_limit"] else -1
    )


def start_hog(container: Any, kind: str, workers: int) -> int:
    """Start stress-ng in the container; returns its pid there."""
    args = " ".join(HOG_ARGS[kind](workers))
    res = container.exec_run(
        ["sh", "-c", f"stress-ng {args} --timeout 24h >/dev/null 2>&1 & echo $!"]
    )
    out = res.output.decode(errors="replace").strip()
    if res.exit_code != 0 or not out.isdigit():
        raise RuntimeError(f"could not start stress-ng in the container: {out[-300:]}")
    return int(out)


def stop_hog(container: Any, pid: int) -> None:
    container.exec_run(["kill", "-TERM", str(pid)])
    # Wait (bounded) until stress-ng and its workers are gone.
    container.exec_run(
        [
            "sh",
            "-c",
            "for i in $(seq 50); do pgrep -x stress-ng >/dev/null || exit 0; sleep 0.1; done; pkill -KILL -x stress-ng; exit 0",
        ]
    )
