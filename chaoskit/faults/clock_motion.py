"""Clocks that move: drift (a rate), strobe (two offsets, back and forth), bump.

Through libfaketime like clock-skew (chaoskit.backends.clockrate): only nodes
started under it can be reached, and experiment validation refuses these faults for
systems whose clocks libfaketime cannot reach (Go programs such as etcd read the
time through the vDSO).

    clock-drift   the targets' clocks run at `rate` (1.5: 50 % fast) from now on,
                  without a jump; libfaketime also runs their sleeps and timers at
                  that rate, as a fast oscillator would. Heal: real time (a jump
                  back by what the drift added).
    clock-strobe  the clocks jump between `low` and `high` every `period` / 2
                  (a background thread rewrites the offset); heal: thread stopped,
                  real time.
    clock-bump    each target's clock jumps by its own offset drawn from
                  [-max, +max] (the fault's seeded random source); heal: real time.
"""

from __future__ import annotations

import threading
from typing import Any

from chaoskit.faults.base import (
    ACTS_ON_NODES,
    TARGET,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    nonzero,
    on_each_node,
    on_every_node,
)
from chaoskit.faults.selectors import select_nodes
from chaoskit.units import millis


def _real_time(ctx: FaultContext, nodes: list[str]) -> None:
    on_every_node(nodes, lambda n: ctx.backend.set_clock_rate(n, 0.0, 1.0), "clock reset")


def _on_each(ctx: FaultContext, nodes: list[str], set_one: Any) -> None:
    on_each_node(nodes, set_one, lambda done: _real_time(ctx, done))


def clock_drift(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    rate = float(params.get("rate", 1.0))
    if rate <= 0:
        raise FaultError(f"clock-drift needs rate > 0, got {rate}")
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    _on_each(ctx, nodes, lambda n: ctx.backend.set_clock_rate(n, 0.0, rate))
    return Applied(targets={"nodes": nodes, "rate": rate}, heal=lambda: _real_time(ctx, nodes))


def clock_strobe(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    low = millis(params.get("low", 0), "low")
    high = millis(params.get("high", 0), "high")
    period_s = millis(params.get("period", 1), "period") / 1000.0
    if period_s <= 0:
        raise FaultError(f"clock-strobe needs period > 0, got {period_s}")
    nodes = select_nodes(ctx, params.get("target"), ctx.rng_for(fid))
    _on_each(ctx, nodes, lambda n: ctx.backend.set_clock_rate(n, high, 1.0))
    stop = threading.Event()
    failures: list[str] = []

    def strobe() -> None:
        now_high = True
        while not stop.wait(period_s / 2):
            now_high = not now_high
            for n in nodes:
                try:
                    ctx.backend.set_clock_rate(n, high if now_high else low, 1.0)
                except Exception as e:  # a node restarting: try again next half-period
                    failures.append(f"{n}: {e}")

    thread = threading.Thread(target=strobe, name=f"clock-strobe-{fid}", daemon=True)
    thread.start()

    def heal() -> None:
        stop.set()
        thread.join(timeout=5)
        _real_time(ctx, nodes)

    return Applied(
        targets={"nodes": nodes, "low_ms": low, "high_ms": high, "period_s": period_s},
        heal=heal,
    )


def clock_bump(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    span = millis(params.get("max", 0), "max")
    rng = ctx.rng_for(fid)
    nodes = select_nodes(ctx, params.get("target", "random-node"), rng)
    offsets = {n: round(rng.uniform(-span, span), 3) for n in nodes}
    _on_each(ctx, nodes, lambda n: ctx.backend.set_clock_rate(n, offsets[n], 1.0))
    return Applied(
        targets={"nodes": nodes, "offsets_ms": offsets}, heal=lambda: _real_time(ctx, nodes)
    )


FAULTS = (
    FaultDef(
        "clock-drift",
        "clock",
        "The targets' clocks run at `rate` (1.5 = 50 % fast, 0.5 = half speed) from now on; real time at heal.",
        (
            TARGET,
            Param(
                "rate", "number", required=True, min=0, min_exclusive=True, doc="clock speed, > 0"
            ),
        ),
        clock=True,
        effect=ACTS_ON_NODES,
        apply=clock_drift,
    ),
    FaultDef(
        "clock-strobe",
        "clock",
        "The targets' clocks jump between the offsets `low` and `high` every half `period`; real time at heal.",
        (
            TARGET,
            Param("low", "signed-duration", required=True, doc="e.g. -1s"),
            Param("high", "signed-duration", required=True, doc="e.g. +1s"),
            Param("period", "duration", required=True, doc="a full low-high cycle, > 0, e.g. 2s"),
        ),
        clock=True,
        rules=(nonzero("period", "a full low-high cycle, e.g. 2s"),),
        effect=ACTS_ON_NODES,
        apply=clock_strobe,
    ),
    FaultDef(
        "clock-bump",
        "clock",
        "Each target's clock jumps by its own offset drawn from [-max, +max] (seeded); real time at heal.",
        (
            Param(
                "target", "selector", default="random-node", doc="which nodes (default random-node)"
            ),
            Param("max", "duration", required=True, doc="largest jump, e.g. 5s"),
        ),
        clock=True,
        effect=ACTS_ON_NODES,
        apply=clock_bump,
    ),
)
