"""latency: delay every chunk by `latency` ms +/- `jitter` ms.

The delay counts from when the bytes were read, so back-to-back chunks are
pipelined (a stream is delayed, not throttled). Jitter never reorders data: a
chunk waits for the one before it, as on a TCP stream.
"""

from __future__ import annotations

import random

from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


class LatencyToxic(Toxic):
    type = "latency"
    attrs = {"latency": (0, 0), "jitter": (0, 0)}

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        if chunk.data is not None:
            # One draw per chunk, kept across attribute updates so an update only
            # rescales it; uniform in [-jitter, +jitter) like Toxiproxy.
            frac = random.uniform(-1.0, 1.0) if self.attributes["jitter"] else 0.0
            base = chunk.ts

            def deadline() -> float:
                a = self.attributes
                return base + max(0.0, a["latency"] + frac * a["jitter"]) / 1000.0

            if await pipe.hold(self, deadline):
                chunk.ts = max(chunk.ts, deadline())
            else:
                chunk.ts = pipe.now()
        await emit(chunk)
