"""Congestion that comes and goes: latency, jitter and stalls rising and falling
over a period on chosen links, as cross-border routes do at peak hours.

The level follows ``(1 - cos(2 pi t / period)) / 2``: 0 when the fault starts,
1 (the peak: `rtt` and `jitter` added, a share `loss` of new connections stalled)
at half the period, 0 again at its end, and so on until the heal. A thread moves
the links' latency every `period` / 16 (at least every 0.25 s) through the shared
link overlay, so other latency faults on the same links compose with it. Stalls
are Toxiproxy `timeout` toxics (timeout 0: the connection's bytes are held until
the client gives up, as a path that drops every packet for a while), decided per
connection with toxicity = loss x level.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from chaoskit.faults.base import (
    DEGRADES_LINKS,
    Applied,
    FaultContext,
    FaultDef,
    FaultError,
    Param,
    nonzero,
)
from chaoskit.faults.selectors import select_links
from chaoskit.topology.model import Latency
from chaoskit.units import millis


def level_at(t_s: float, period_s: float) -> float:
    """The congestion level (0..1) `t_s` seconds after the start."""
    return (1.0 - math.cos(2.0 * math.pi * t_s / period_s)) / 2.0


def congestion(ctx: FaultContext, params: dict[str, Any], fid: str) -> Applied:
    names = sorted({s.name for s in select_links(ctx, params.get("links", "all"))})
    rtt = millis(params.get("rtt", 0), "rtt")
    jitter = millis(params.get("jitter", 0), "jitter")
    loss = float(params.get("loss", 0.0))
    period_s = millis(params.get("period", 0), "period") / 1000.0
    if period_s <= 0:
        raise FaultError(f"congestion needs period > 0, got {period_s} s")
    if not 0.0 <= loss <= 1.0:
        raise FaultError(f"loss must be within 0..1, got {loss}")
    step_s = max(0.25, period_s / 16)
    stall = f"chaoskit-{fid}-stall"
    stop = threading.Event()
    state: dict[str, Any] = {"toxicity": 0.0, "errors": 0, "name": None}

    def set_level(level: float) -> None:
        ctx.overlay.set_latency(fid, names, "add", Latency(rtt * level, jitter * level))
        want = round(loss * level, 1)  # in tenths: fewer toxic swaps
        if want == state["toxicity"]:
            return
        # The new stall toxic goes in before the old one leaves (names alternate),
        # so no connection opened meanwhile escapes both.
        old_name = state.get("name")
        if want > 0:
            new_name = f"{stall}-{'b' if old_name == stall + '-a' else 'a'}"
            ctx.links.add_toxic(
                names, "timeout", {"timeout": 0}, stream="upstream", toxicity=want, name=new_name
            )
            state["name"] = new_name
        else:
            state["name"] = None
        if old_name:
            ctx.links.remove_toxic(names, old_name, missing_ok=True)
        state["toxicity"] = want

    started = time.monotonic()

    def run() -> None:
        while not stop.is_set():
            try:  # the level of the real time elapsed: slow link updates do not lag the curve
                set_level(level_at(time.monotonic() - started, period_s))
            except Exception:  # a busy link server: try again at the next step
                state["errors"] += 1
            if stop.wait(step_s):
                return

    thread = threading.Thread(target=run, name=f"congestion-{fid}", daemon=True)
    thread.start()

    def heal() -> None:
        stop.set()
        thread.join(timeout=10)
        ctx.overlay.unset_latency(fid)
        if state["name"]:
            ctx.links.remove_toxic(names, state["name"], missing_ok=True)
            state["name"] = None

    targets = {
        "links": names,
        "peak_rtt_ms": rtt,
        "peak_jitter_ms": jitter,
        "peak_loss": loss,
        "period_s": period_s,
    }
    return Applied(targets=targets, heal=heal)


FAULTS = (
    FaultDef(
        "congestion",
        "network",
        "Latency, jitter and stalls on the links rise and fall over `period` (peak at half of it) until the heal.",
        (
            Param("links", "links", required=True, doc="which links (link selector)"),
            Param("rtt", "duration", required=True, doc="RTT added at the peak, e.g. 150ms"),
            Param("jitter", "duration", default=0.0, doc="jitter added at the peak"),
            Param(
                "loss",
                "number",
                default=0.0,
                min=0,
                max=1,
                doc="share of new connections stalled at the peak",
            ),
            Param("period", "duration", required=True, doc="one rise and fall, > 0, e.g. 20s"),
        ),
        rules=(nonzero("period", "one rise and fall, e.g. 20s"),),
        effect=DEGRADES_LINKS,
        apply=congestion,
    ),
)
