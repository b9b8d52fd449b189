"""Clock faults through Backend.set_clock_offset (libfaketime in both backends).

Only nodes started with NodeSpec.faketime can be skewed; systems that read the
clock without libc (Go: etcd) say so through SystemAdapter.supports_clock_skew and
the experiment package rejects clock faults for them before anything starts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chaoskit.faults.base import (
    ACTS_ON_NODES,
    TARGET,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    on_each_node,
    on_every_node,
)
from chaoskit.faults.selectors import select_nodes
from chaoskit.units import millis


def _reset(ctx: FaultContext, nodes: list[str]) -> None:
    on_every_node(nodes, lambda n: ctx.backend.set_clock_offset(n, None), "clock reset")


def _parse_when(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    try:
        d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError as e:
        raise FaultError(f"clock-skew `time` must be an ISO date-time, got {v!r}") from e
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def clock_skew(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    # `time` is the absolute clock (the experiment schema's name; `at` is every
    # schedule entry's start time, so it cannot also name the clock).
    if params.get("time") is not None and params.get("offset") is None:
        when = _parse_when(params["time"])
        offset_ms = (when - datetime.now(UTC)).total_seconds() * 1000.0
        targets: dict[str, Any] = {"nodes": nodes, "time": when.isoformat()}
    else:
        offset_ms = millis(params.get("offset", 0), "offset")
        targets = {"nodes": nodes, "offset_ms": offset_ms}
    on_each_node(
        nodes,
        lambda n: ctx.backend.set_clock_offset(n, offset_ms),
        lambda done: _reset(ctx, done),
    )
    return Applied(targets=targets, heal=lambda: _reset(ctx, nodes))


def clock_reset(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    nodes = select_nodes(ctx, params.get("target", "all"), ctx.rng_for(fid))
    _reset(ctx, nodes)
    return Applied(targets={"nodes": nodes}, heal=lambda: None, instant=True)


FAULTS = (
    FaultDef(
        "clock-skew",
        "clock",
        "Shift the targets' wall clock by `offset`, or set it to the absolute `time`; reset at heal.",
        (
            TARGET,
            Param("offset", "signed-duration", doc="e.g. -2s, +500ms"),
            # Not `at`: that key is the schedule's start time of every entry.
            Param("time", "datetime", doc="absolute clock, ISO 8601, e.g. 2027-01-01T00:00:00"),
        ),
        clock=True,
        one_of=(("offset", "time"),),
        effect=ACTS_ON_NODES,
        apply=clock_skew,
    ),
    FaultDef(
        "clock-reset",
        "clock",
        "Give the targets the real time again.",
        (TARGET,),
        instant=True,
        clock=True,
        apply=clock_reset,
    ),
)
