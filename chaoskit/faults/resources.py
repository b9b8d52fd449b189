"""Resource faults: CPU throttling, memory limits and hungry neighbours per node.

They need a backend with per-node resource control (the docker backend: `docker
update` and stress-ng in the node's container); experiment validation refuses them
on the local backend, where nodes are plain processes sharing the host.

    cpu-limit     the targets' containers get `cpus` cores (CFS quota)
    memory-limit  the targets' containers get `memory_mb` MiB, no swap
    cpu-hog       `workers` stress-ng CPU spinners inside each target's container
    io-hog        `workers` stress-ng synced writers inside each target's container
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaoskit.faults.base import (
    ACTS_ON_NODES,
    TARGET,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    RuleScope,
    on_every_node,
)
from chaoskit.faults.selectors import select_nodes

NEEDS = (
    "resource faults need a backend that controls each node's resources (backend: docker); "
    "{backend} has no {method}"
)


def _method(ctx: FaultContext, name: str) -> Callable[..., Any]:
    fn = getattr(ctx.backend, name, None)
    if fn is None:
        raise FaultError(NEEDS.format(backend=type(ctx.backend).__name__, method=name))
    return fn


def _each(
    ctx: FaultContext, nodes: list[str], do: Callable[[str], Any], undo: Callable[[str, Any], None]
) -> dict[str, Any]:
    """do(node) on every node; on a failure undo what was done and re-raise."""
    done: dict[str, Any] = {}
    try:
        for n in nodes:
            done[n] = do(n)
    except BaseException:
        for n, token in reversed(list(done.items())):
            try:
                undo(n, token)
            except Exception:
                pass  # the first error is the one to report
        raise
    return done


def _heal_all(undo: Callable[[str, Any], None], done: dict[str, Any]) -> Callable[[], None]:
    def heal() -> None:
        on_every_node(done, lambda n: undo(n, done[n]), "resource heal")

    return heal


def _limit(ctx: FaultContext, params: dict[str, Any], fid: str, **kw: float) -> Applied:
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    limit, restore = _method(ctx, "limit_resources"), _method(ctx, "restore_resources")
    done = _each(ctx, nodes, lambda n: limit(n, **kw), restore)
    return Applied(targets={"nodes": nodes, **kw}, heal=_heal_all(restore, done))


def cpu_limit(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    cpus = float(params.get("cpus", 0))
    if cpus <= 0:
        raise FaultError(f"cpu-limit needs cpus > 0, got {cpus}")
    return _limit(ctx, params, fid, cpus=cpus)


def memory_limit(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    mb = float(params.get("memory_mb", 0))
    if mb < 6:
        raise FaultError(f"memory-limit needs memory_mb >= 6 (Docker's minimum), got {mb}")
    return _limit(ctx, params, fid, memory_mb=mb)


def _hog(ctx: FaultContext, params: dict[str, Any], fid: str, kind: str) -> Applied:
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    workers = int(params.get("workers", 1))
    start, stop = _method(ctx, "start_hog"), _method(ctx, "stop_hog")
    done = _each(ctx, nodes, lambda n: start(n, kind, workers), stop)
    return Applied(
        targets={"nodes": nodes, "workers": workers, "pids": done}, heal=_heal_all(stop, done)
    )


def cpu_hog(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    return _hog(ctx, params, fid, "cpu")


def io_hog(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    return _hog(ctx, params, fid, "io")


NOT_ON_LOCAL = (
    "the local backend runs nodes as plain processes sharing the host, with no per-node "
    "CPU or memory control; use backend: docker"
)


def _not_on_local(name: str) -> Any:
    def rule(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
        if scope.backend == "local":
            return [("fault", f"fault {name} needs per-node resource control: {NOT_ON_LOCAL}")]
        return []

    return rule


FAULTS = (
    FaultDef(
        "cpu-limit",
        "resource",
        "The targets' containers get `cpus` cores (docker update, CFS quota); the old limit at heal.",
        (
            TARGET,
            Param(
                "cpus", "number", required=True, min=0, min_exclusive=True, doc="cores, e.g. 0.2"
            ),
        ),
        rules=(_not_on_local("cpu-limit"),),
        effect=ACTS_ON_NODES,
        apply=cpu_limit,
    ),
    FaultDef(
        "memory-limit",
        "resource",
        "The targets' containers get `memory_mb` MiB and no swap (docker update); no limit in effect at heal.",
        (
            TARGET,
            Param("memory_mb", "number", required=True, min=6, doc="MiB, >= 6 (Docker's minimum)"),
        ),
        rules=(_not_on_local("memory-limit"),),
        effect=ACTS_ON_NODES,
        apply=memory_limit,
    ),
    FaultDef(
        "cpu-hog",
        "resource",
        "A CPU-hungry neighbour: `workers` stress-ng spinners inside each target's container.",
        (TARGET, Param("workers", "int", default=1, min=1, max=64)),
        rules=(_not_on_local("cpu-hog"),),
        effect=ACTS_ON_NODES,
        apply=cpu_hog,
    ),
    FaultDef(
        "io-hog",
        "resource",
        "An I/O-hungry neighbour: `workers` stress-ng synced writers inside each target's container.",
        (TARGET, Param("workers", "int", default=1, min=1, max=64)),
        rules=(_not_on_local("io-hog"),),
        effect=ACTS_ON_NODES,
        apply=io_hog,
    ),
)
