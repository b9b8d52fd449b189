"""Process faults: kill (SIGKILL, restarted at heal), stop/start (graceful),
pause (SIGSTOP, SIGCONT at heal). All through the backend."""

from __future__ import annotations

from typing import Any

from chaoskit.faults.base import ACTS_ON_NODES, TARGET, Applied, FaultContext, FaultDef, Param
from chaoskit.faults.selectors import select_nodes


def _restart(ctx: FaultContext, nodes: list[str]) -> None:
    """Start every node that is not running, then wait for all of them together."""
    started = []
    for n in nodes:
        if not ctx.backend.is_running(n):
            ctx.backend.start_node(n, ctx.node_spec(n))
            started.append(n)
    if started and not ctx.tearing_down:
        ctx.adapter.wait_ready(ctx.system, started, ctx.ready_timeout_s)


def _each(nodes: list[str], act: Any, undo: Any) -> None:
    """Act on every node; on a failure undo the ones already done, then re-raise."""
    done: list[str] = []
    try:
        for n in nodes:
            act(n)
            done.append(n)
    except BaseException:
        if done:
            undo(done)
        raise


def kill(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    nodes = [n for n in select_nodes(ctx, params.get("target"), ctx.rng_for(fid))]
    running = [n for n in nodes if ctx.backend.is_running(n)]
    _each(running, ctx.backend.kill_node, lambda done: _restart(ctx, done))
    return Applied(targets={"nodes": running}, heal=lambda: _restart(ctx, running))


def stop(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    grace = float(params.get("grace") if params.get("grace") is not None else 5.0)
    running = [n for n in nodes if ctx.backend.is_running(n)]
    _each(running, lambda n: ctx.backend.stop_node(n, grace), lambda done: _restart(ctx, done))
    return Applied(targets={"nodes": running}, heal=lambda: _restart(ctx, running))


def start(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    stopped = [n for n in nodes if not ctx.backend.is_running(n)]
    _restart(ctx, stopped)
    return Applied(targets={"nodes": stopped}, heal=lambda: None, instant=True)


def pause(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    running = [n for n in nodes if ctx.backend.is_running(n)]

    def resume(ns: list[str]) -> None:
        for n in ns:
            ctx.backend.resume_node(n)

    _each(running, ctx.backend.pause_node, resume)
    return Applied(targets={"nodes": running}, heal=lambda: resume(running))


FAULTS = (
    FaultDef(
        "kill",
        "process",
        "SIGKILL the targets; with `for`, restart them after it.",
        (TARGET,),
        effect=ACTS_ON_NODES,
        apply=kill,
    ),
    FaultDef(
        "stop",
        "process",
        "Stop the targets gracefully (SIGTERM, SIGKILL after `grace`); with `for`, start them again after it.",
        (TARGET, Param("grace", "duration", default=5.0)),
        effect=ACTS_ON_NODES,
        apply=stop,
    ),
    FaultDef(
        "start",
        "process",
        "Start the targets (if not running).",
        (TARGET,),
        instant=True,
        apply=start,
    ),
    FaultDef(
        "pause",
        "process",
        "SIGSTOP the targets; SIGCONT at heal.",
        (TARGET,),
        effect=ACTS_ON_NODES,
        apply=pause,
    ),
)
