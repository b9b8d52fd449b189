"""limit_data: let `bytes` bytes through on this stream, then close the connection
(the data up to the limit is delivered first)."""

from __future__ import annotations

from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


class _State:
    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


class LimitDataToxic(Toxic):
    type = "limit_data"
    attrs = {"bytes": (0, 0)}

    def new_state(self) -> _State:
        return _State()

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        state: _State = run.state
        if chunk.data is None:
            await emit(chunk)
            return
        left = max(0, self.attributes["bytes"] - state.sent)
        data = chunk.data[:left]
        if data:
            state.sent += len(data)
            await emit(Chunk(data, chunk.ts))
        if state.sent >= self.attributes["bytes"]:
            pipe.close(run)
