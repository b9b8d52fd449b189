"""bandwidth: limit a stream to `rate` KB/s (1 KB = 1000 bytes, as Toxiproxy).

Large chunks are released in slices of 100 ms worth of bytes so the receiver sees
a steady rate rather than bursts. Idle time is not banked: a pause does not earn
a later burst. rate 0 means unlimited (Toxiproxy's behaviour).
"""

from __future__ import annotations

from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


class _State:
    __slots__ = ("t",)

    def __init__(self) -> None:
        self.t = 0.0  # loop time when the stream is free to send again


class BandwidthToxic(Toxic):
    type = "bandwidth"
    attrs = {"rate": (0, 0)}

    def new_state(self) -> _State:
        return _State()

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        data = chunk.data
        state: _State = run.state
        while data:
            rate = self.attributes["rate"]
            if rate <= 0:
                break
            piece = max(1, rate * 100)  # 100 ms worth of bytes
            part, data = data[:piece], data[piece:]
            state.t = max(state.t, pipe.now()) + len(part) / (rate * 1000.0)
            due = state.t
            if not await pipe.hold(self, lambda due=due: due):
                data = part + data  # removed or closed: pass the rest on at once
                break
            await emit(Chunk(part, max(chunk.ts, due)))
        if data or chunk.data is None:
            await emit(Chunk(data, chunk.ts) if data else chunk)
