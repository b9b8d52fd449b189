"""The toxics, one module each (like Toxiproxy's toxics/ directory), and the
registry that maps a JSON "type" to its class."""

from __future__ import annotations

from chaoskit.links.toxics.bandwidth import BandwidthToxic
from chaoskit.links.toxics.base import DOWNSTREAM, STREAMS, UPSTREAM, Chunk, Run, Toxic
from chaoskit.links.toxics.latency import LatencyToxic
from chaoskit.links.toxics.limit_data import LimitDataToxic
from chaoskit.links.toxics.reset_peer import ResetPeerToxic
from chaoskit.links.toxics.slicer import SlicerToxic
from chaoskit.links.toxics.slow_close import SlowCloseToxic
from chaoskit.links.toxics.timeout import TimeoutToxic

REGISTRY: dict[str, type[Toxic]] = {
    cls.type: cls
    for cls in (
        LatencyToxic,
        BandwidthToxic,
        SlowCloseToxic,
        TimeoutToxic,
        ResetPeerToxic,
        SlicerToxic,
        LimitDataToxic,
    )
}

__all__ = ["DOWNSTREAM", "REGISTRY", "STREAMS", "UPSTREAM", "Chunk", "Run", "Toxic"]
