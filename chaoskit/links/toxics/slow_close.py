"""slow_close: delay the end of the stream (EOF/FIN) by `delay` ms; data passes."""

from __future__ import annotations

from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


class SlowCloseToxic(Toxic):
    type = "slow_close"
    attrs = {"delay": (0, 0)}

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        if chunk.data is None:
            start = pipe.now()
            await pipe.hold(self, lambda: start + self.attributes["delay"] / 1000.0)
        await emit(chunk)
