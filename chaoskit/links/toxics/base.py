"""What every toxic shares: the chunk that flows through a pipe, the per-pipe run
state, attribute validation and the JSON shape Toxiproxy uses.

A toxic object belongs to one proxy and one stream (direction). Every open
connection of that proxy has a pipe per direction; each pipe pushes the chunks it
reads through the toxics of its direction, in the order they were added (stacked
toxics compose). A toxic's `process` receives one chunk and calls `emit` zero or
more times to pass data on to the next toxic (or to the socket at the end).

`Pipe` (chaoskit.links.pipe) is what a toxic may ask for:
  pipe.now() -> float                                  loop clock, seconds
  await pipe.hold(toxic, deadline_fn) -> bool          sleep until deadline_fn();
      re-evaluated when the toxic is updated; False if the toxic was removed or the
      connection closed meanwhile (then the toxic passes data on without delay,
      like Toxiproxy: "don't drop any data on the floor")
  pipe.close(run)  end the connection after the data this toxic already passed on
                   has gone through the later toxics (Toxiproxy closes a stub's
                   output channel): then pending data is flushed and both sides FIN
  pipe.reset(run)  the same, but both sides get a RST (SO_LINGER 0)
  pipe.call_later(delay_s, fn) -> asyncio.TimerHandle
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from chaoskit.links.errors import BAD_REQUEST_BODY, ApiError

if TYPE_CHECKING:  # pragma: no cover
    from chaoskit.links.pipe import Pipe

UPSTREAM = "upstream"  # client -> upstream server
DOWNSTREAM = "downstream"  # upstream server -> client
STREAMS = (UPSTREAM, DOWNSTREAM)

_uids = itertools.count(1)
INT64_MAX = 2**63 - 1


@dataclass(slots=True)
class Chunk:
    """Bytes read from one side, or (`data=None`) the end of the stream.

    `ts` is the loop time the bytes were read at; delaying toxics advance it to the
    time they release the chunk, so a second latency toxic adds on top of the first.
    `end` says what kind of end a data-less chunk is: "eof" (the source half-closed:
    passed on as a half-close), "close" or "reset" (a toxic ended the connection;
    it takes effect when it reaches the socket, after the data ahead of it).
    Toxics treat every end alike, as Toxiproxy treats a closed input channel.
    """

    data: bytes | None
    ts: float
    end: str = "eof"


class Run:
    """One toxic's state on one pipe: whether toxicity picked it for this connection,
    plus whatever the toxic keeps per connection (bytes sent, timers, ...)."""

    __slots__ = ("toxic", "on", "state", "timer")

    def __init__(self, toxic: Toxic, on: bool, state: Any) -> None:
        self.toxic = toxic
        self.on = on
        self.state = state
        self.timer: Any = None


Emit = Callable[[Chunk], Awaitable[None]]


class Toxic:
    """Base class. Subclasses set `type` and `attrs` ({name: (default, minimum)})."""

    type: ClassVar[str] = ""
    # Every Toxiproxy toxic attribute is an integer with a lower bound.
    attrs: ClassVar[dict[str, tuple[int, int]]] = {}

    def __init__(self, name: str, stream: str, toxicity: float, attributes: dict[str, int]) -> None:
        self.uid = next(_uids)
        self.name = name
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = attributes
        self.removed = False

    # -- validation -------------------------------------------------------------

    @classmethod
    def check_attributes(cls, raw: Any, current: dict[str, int] | None = None) -> dict[str, int]:
        """Merge `raw` (the JSON "attributes" value) over `current` or the defaults.

        Omitted attributes keep their value (Toxiproxy decodes into the existing
        struct); unknown keys are ignored like Go's decoder does. Wrong types and
        values below the minimum raise a 400 naming the attribute.
        """
        out = dict(current) if current is not None else {k: d for k, (d, _) in cls.attrs.items()}
        if raw is None:
            return out
        if not isinstance(raw, dict):
            raise BAD_REQUEST_BODY.joined(f"attributes must be a JSON object, got {_kind(raw)}")
        for key, (_, minimum) in cls.attrs.items():
            if key not in raw:
                continue
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise BAD_REQUEST_BODY.joined(
                    f"attribute {key!r} of a {cls.type} toxic must be an integer, got {value!r}"
                )
            if value > INT64_MAX:  # Toxiproxy's attributes are Go int64s
                raise BAD_REQUEST_BODY.joined(
                    f"attribute {key!r} of a {cls.type} toxic is out of range: {value}"
                )
            if value < minimum:
                raise ApiError(
                    f"invalid attribute value: {key!r} of a {cls.type} toxic must be >= {minimum}, got {value}",
                    400,
                )
            out[key] = value
        cls.check_combination(out)
        return out

    @classmethod
    def check_combination(cls, attributes: dict[str, int]) -> None:
        """Hook for rules across attributes (none by default)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }

    # -- behaviour on a pipe ------------------------------------------------------

    def new_state(self) -> Any:
        return None

    def start(self, pipe: Pipe, run: Run) -> None:
        """The toxic became active on a pipe (connection opened, toxic added or updated)."""

    def stop(self, pipe: Pipe, run: Run, removed: bool) -> None:
        """The toxic leaves a pipe (removed, updated, or the connection closed)."""
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None

    async def process(self, pipe: Pipe, run: Run, chunk: Chunk, emit: Emit) -> None:
        await emit(chunk)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string"}.get(
        type(value), type(value).__name__
    )
