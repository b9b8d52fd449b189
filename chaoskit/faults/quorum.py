"""Quorum faults: shrink the membership to the survivors, and grow it back,
through the system adapter (geokv: admin member list; etcd: force-new-cluster)."""

from __future__ import annotations

from typing import Any

from chaoskit.faults.base import Applied, FaultContext, FaultDef, FaultError, Param
from chaoskit.faults.selectors import select_nodes


def _restore(ctx: FaultContext, returning: list[str]) -> None:
    with ctx.lock:
        back = [n for n in returning if n not in ctx.system.members]
        if not back:
            return
        ctx.adapter.restore_quorum(ctx.system, back)
        for n in back:
            if n not in ctx.system.members:
                ctx.system.members.append(n)
        order = ctx.node_names
        ctx.system.members.sort(key=order.index)


def degrade_quorum(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    survivors = select_nodes(ctx, params.get("survivors"), ctx.rng_for(fid))
    if not survivors:
        raise FaultError("degrade-quorum: the survivors selector chose no node")
    with ctx.lock:
        before = list(ctx.system.members)
        try:
            ctx.adapter.degrade_quorum(ctx.system, survivors)
        except NotImplementedError as e:
            raise FaultError(str(e)) from e
        # The adapter may already have updated the membership; make it exact.
        ctx.system.members[:] = [n for n in before if n in survivors]
    dropped = [n for n in before if n not in survivors]
    return Applied(
        targets={"nodes": survivors, "survivors": survivors, "dropped": dropped},
        heal=lambda: _restore(ctx, dropped),
    )


def restore_quorum(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    returning = [n for n in ctx.node_names if n not in ctx.system.members]
    try:
        _restore(ctx, returning)
    except NotImplementedError as e:
        raise FaultError(str(e)) from e
    return Applied(targets={"nodes": returning}, heal=lambda: None, instant=True)


FAULTS = (
    FaultDef(
        "degrade-quorum",
        "quorum",
        "Shrink the membership to the survivors (through the system adapter); restored at heal.",
        (Param("survivors", "selector", required=True),),
        apply=degrade_quorum,
    ),
    FaultDef(
        "restore-quorum",
        "quorum",
        "Grow the membership back to every node.",
        (),
        instant=True,
        apply=restore_quorum,
    ),
)
