"""slicer: cut each chunk into pieces of about `average_size` bytes (+/-
`size_variation`), written separately with `delay` microseconds between them."""

from __future__ import annotations

import random

from chaoskit.links.errors import ApiError
from chaoskit.links.toxics.base import Chunk, Emit, Run, Toxic


def slice_points(length: int, average: int, variation: int) -> list[int]:
    """Cut offsets of a chunk of `length` bytes, 0 and `length` included.

    Halves the span until a piece is within `variation` of `average` (the same
    rule as Toxiproxy's, done with an explicit stack instead of recursion). Cut
    points are kept strictly inside a span so every piece is non-empty.
    """
    cuts = [0]
    stack = [(0, length)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average <= variation or end - start < 2:
            cuts.append(end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += random.randrange(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        stack.append((mid, end))  # popped second: pieces come out in order
        stack.append((start, mid))
    return cuts


class SlicerToxic(Toxic):
    type = "slicer"
    attrs = {"average_size": (0, 1), "size_variation": (0, 0), "delay": (0, 0)}

    @classmethod
    def check_combination(cls, attributes: dict[str, int]) -> None:
        # average_size has no usable default (0 would cut forever): it is required.
        if attributes["average_size"] < 1:
            raise ApiError(
                "invalid attribute value: 'average_size' of a slicer toxic must be >= 1 (bytes), got 0 or missing",
                400,
            )

    async def process(self, pipe, run: Run, chunk: Chunk, emit: Emit) -> None:  # type: ignore[override]
        data = chunk.data
        if not data:
            await emit(chunk)
            return
        a = self.attributes
        cuts = slice_points(len(data), a["average_size"], a["size_variation"])
        for i in range(1, len(cuts)):
            await emit(Chunk(data[cuts[i - 1] : cuts[i]], chunk.ts))
            if pipe.closed:
                return
            start = pipe.now()
            if not await pipe.hold(
                self, lambda start=start: start + self.attributes["delay"] / 1e6
            ):
                if i + 1 < len(cuts) and not pipe.closed:
                    await emit(Chunk(data[cuts[i] :], chunk.ts))  # removed: the rest at once
                return
