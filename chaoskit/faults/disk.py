"""Disk faults: a node's writes and fsyncs on its data directory fail or slow down.

Through the disk-fault shim (chaoskit.backends.diskfault), loaded into every node
when the experiment has a disk fault; the real system calls are made or refused
at the C library's door, so the program sees exactly what a failing disk gives
it: fsync() = -1 EIO, write() = -1 ENOSPC, an fsync that takes 500 ms.

    disk-error  fsync and/or write fail with `errno` (EIO by default), each call
                with `probability`
    slow-fsync  every fsync / fdatasync takes `delay` longer
    disk-full   writes and fsyncs fail with ENOSPC, as on a full file system; with
                `how: fill` the file system really is full: the node's data
                directory is a small tmpfs and a filler file takes every block

Several disk faults on one node combine (any error, delays added); healing one
re-applies what the others still want, and the last heal removes the control file.
"""

from __future__ import annotations

import errno
import threading
from typing import Any

from chaoskit.backends.datafs import SIZE_MB, why_not_size_limited
from chaoskit.backends.diskfault import ERRNOS, control_text
from chaoskit.faults.base import (
    ACTS_ON_NODES,
    TARGET,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    RuleScope,
    on_each_node,
    on_every_node,
)
from chaoskit.faults.selectors import select_nodes
from chaoskit.units import millis

_LOCK = threading.Lock()


def _active(ctx: FaultContext) -> dict[str, dict[str, dict[str, Any]]]:
    """node -> fault id -> wanted settings (kept on the context, for composition)."""
    return ctx.__dict__.setdefault("disk_faults_active", {})


def _push(ctx: FaultContext, node: str) -> None:
    wants = list(_active(ctx).get(node, {}).values())
    if not wants:
        ctx.backend.set_disk_fault(node, None)
        return
    ctx.backend.set_disk_fault(
        node,
        control_text(
            fsync_errno=next((w["fsync_errno"] for w in wants if w["fsync_errno"]), 0),
            write_errno=next((w["write_errno"] for w in wants if w["write_errno"]), 0),
            fsync_delay_ms=sum(w["fsync_delay_ms"] for w in wants),
            probability=max(w["probability"] for w in wants),
        ),
    )


def _apply(ctx: FaultContext, params: dict[str, Any], fid: str, **want: Any) -> Applied:
    if not ctx.backend.disk_faults:
        raise FaultError(
            "the nodes were started without the disk-fault shim (Backend.disk_faults is False); "
            "experiments with disk faults in their schedule turn it on"
        )
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    settings = {"fsync_errno": 0, "write_errno": 0, "fsync_delay_ms": 0.0, "probability": 1.0}
    settings |= want

    def add(n: str) -> None:
        _active(ctx).setdefault(n, {})[fid] = settings
        _push(ctx, n)

    def remove(n: str) -> None:
        _active(ctx).get(n, {}).pop(fid, None)
        _push(ctx, n)

    def undo(done: list[str]) -> None:
        for n in nodes:
            _active(ctx).get(n, {}).pop(fid, None)
        for n in done:
            _push(ctx, n)

    def heal() -> None:
        with _LOCK:
            on_every_node(nodes, remove, "disk heal")

    with _LOCK:
        on_each_node(nodes, add, undo)
    return Applied(targets={"nodes": nodes, **want}, heal=heal)


def disk_error(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    op = params.get("op", "fsync")
    name = params.get("errno", "EIO")
    if name not in ERRNOS:
        raise FaultError(f"errno must be one of {', '.join(ERRNOS)}, got {name!r}")
    code = ERRNOS[name]
    p = float(params.get("probability", 1.0))
    return _apply(
        ctx,
        params,
        fid,
        fsync_errno=code if op in ("fsync", "both") else 0,
        write_errno=code if op in ("write", "both") else 0,
        probability=p,
    )


def slow_fsync(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    delay = millis(params.get("delay", 0), "delay")
    if delay <= 0:
        raise FaultError(f"slow-fsync needs delay > 0, got {delay} ms")
    return _apply(ctx, params, fid, fsync_delay_ms=delay)


def disk_full(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    if params.get("how", "shim") == "fill":
        return _fill(ctx, params, fid)
    return _apply(ctx, params, fid, fsync_errno=errno.ENOSPC, write_errno=errno.ENOSPC)


def _fill(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    """A real full file system: every free block of the targets' size-limited data
    directories taken by a filler file (chaoskit.backends.datafs); the heal frees it."""
    if not ctx.backend.data_size_mb:
        raise FaultError(
            "the nodes' data directories are not size-limited (Backend.data_size_mb is None); "
            "experiments with disk-full how: fill turn it on"
        )
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    taken: dict[str, int] = {}

    def fill(n: str) -> None:
        taken[n] = ctx.backend.fill_data_dir(n)

    def heal() -> None:
        on_every_node(nodes, ctx.backend.free_data_dir, "disk-full heal")

    on_each_node(nodes, fill, lambda done: heal())
    return Applied(targets={"nodes": nodes, "how": "fill", "bytes": taken}, heal=heal)


def _reachable(name: str) -> Any:
    """Refuse a disk fault for a system whose writes the shim cannot reach."""

    def rule(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
        cls = scope.adapter
        if cls is None or cls.supports_disk_faults:
            return []
        reason = cls.disk_faults_reason or (
            "its adapter does not declare a data directory written through the C library "
            "(supports_disk_faults = False)"
        )
        if params.get("how") == "fill":
            return []  # a real full file system reaches every program
        kind = cls.kind
        return [
            (
                "fault",
                f"fault {name} needs a system whose disk writes the harness can reach; system "
                f"{kind!r} cannot: {reason}. Remove this {name} fault or use a system that can (geokv)",
            )
        ]

    return rule


def _can_fill(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if params.get("how") != "fill":
        return []
    reason = why_not_size_limited()
    return [("how", reason)] if reason else []


def _positive_delay(params: dict[str, Any], scope: RuleScope) -> list[tuple[str, str]]:
    if params.get("delay") == 0:
        return [("delay", "delay must be > 0, e.g. 500ms")]
    return []


FAULTS = (
    FaultDef(
        "disk-error",
        "disk",
        "The targets' fsyncs and/or writes on their data directory fail with `errno`.",
        (
            TARGET,
            Param("op", "enum", default="fsync", choices=("fsync", "write", "both")),
            Param("errno", "enum", default="EIO", choices=tuple(ERRNOS)),
            Param("probability", "number", default=1.0, min=0, max=1, doc="per call"),
        ),
        rules=(_reachable("disk-error"),),
        effect=ACTS_ON_NODES,
        apply=disk_error,
    ),
    FaultDef(
        "slow-fsync",
        "disk",
        "Every fsync of the targets on their data directory takes `delay` longer.",
        (TARGET, Param("delay", "duration", required=True, doc="e.g. 500ms, > 0")),
        rules=(_reachable("slow-fsync"), _positive_delay),
        effect=ACTS_ON_NODES,
        apply=slow_fsync,
    ),
    FaultDef(
        "disk-full",
        "disk",
        "The targets' writes and fsyncs on their data directory fail with ENOSPC (a full disk).",
        (
            TARGET,
            Param(
                "how",
                "enum",
                default="shim",
                choices=("shim", "fill"),
                doc="shim: the disk-fault shim answers ENOSPC; fill: the node's data directory "
                "is a small tmpfs that a filler file fills (root)",
            ),
        ),
        rules=(_reachable("disk-full"), _can_fill),
        effect=ACTS_ON_NODES,
        apply=disk_full,
    ),
)

# The kinds that need the shim loaded into the nodes (Backend.disk_faults).
DISK_FAULTS = tuple(f.name for f in FAULTS)


def data_size_mb(faults: Any) -> int | None:
    """The size of each node's data file system when a fault fills disks, else None."""
    wants = any(f.kind == "disk-full" and f.params.get("how") == "fill" for f in faults)
    return SIZE_MB if wants else None
