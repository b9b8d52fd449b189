"""reset_peer: when data (or EOF) next arrives, wait `timeout` ms, then reset the
connection (RST to both sides, as a close with SO_LINGER 0). The data is dropped."""

from __future__ import annotations

from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


class ResetPeerToxic(Toxic):
    type = "reset_peer"
    attrs = {"timeout": (0, 0)}

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        start = pipe.now()
        if await pipe.hold(self, lambda: start + self.attributes["timeout"] / 1000.0):
            pipe.reset(run)
        elif not pipe.closed:
            await emit(chunk)  # removed while waiting: let the data through
