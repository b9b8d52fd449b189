"""timeout: stop all data; close the connection after `timeout` ms without data
(the timer restarts with each chunk it swallows, as in Toxiproxy). timeout 0 never
closes: data is dropped until the toxic is removed -- a blackhole.

Removing the toxic closes the connections it was active on (Toxiproxy's Cleanup):
bytes were dropped, so the stream cannot be trusted any more.
"""

from __future__ import annotations

from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


class TimeoutToxic(Toxic):
    type = "timeout"
    attrs = {"timeout": (0, 0)}

    def start(self, pipe, run: Run) -> None:  # type: ignore[override]
        self._arm(pipe, run)

    def _arm(self, pipe, run: Run) -> None:
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        ms = self.attributes["timeout"]
        if ms > 0:
            run.timer = pipe.call_later(ms / 1000.0, lambda: pipe.close(run))

    def stop(self, pipe, run: Run, removed: bool) -> None:  # type: ignore[override]
        super().stop(pipe, run, removed)
        if removed:
            pipe.close(run)

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        if chunk.data is None:
            pipe.close(run)
            return
        self._arm(pipe, run)  # data swallowed; the idle timer starts again
