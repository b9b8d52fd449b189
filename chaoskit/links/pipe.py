"""The data path: one accepted client connection (`Conn`) and its two pipes.

A `Conn` joins the client's socket and a fresh connection to the proxy's upstream.
Each direction is a `Pipe`: it reads from one side and writes to the other,
through the toxics of that direction (the proxy's chain for that stream).

Plain asyncio protocols, for speed. With no toxic on a direction, bytes go
straight from `data_received` to the other transport (no queue, no task); as soon
as a toxic is present, chunks are stamped with their arrival time, queued, and one
task per pipe pushes them through the chain in order. Toxics are added, updated
and removed on live connections: the chain is read per chunk, and a chunk that is
being held (latency, bandwidth, ...) is woken up to re-check its deadline.

Flow control: a pipe stops reading its source while the destination's write
buffer is full, or while its own queue holds more than `QUEUE_HIGH` bytes.
Half-close is passed on (EOF becomes write_eof); the connection closes when both
directions have ended, or at once when either socket fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chaoskit.links.toxics.base import DOWNSTREAM, UPSTREAM, Chunk, Run, Toxic

if TYPE_CHECKING:  # pragma: no cover
    from chaoskit.links.proxy import Proxy

log = logging.getLogger("chaoskit.links")

QUEUE_HIGH = 4 << 20  # stop reading the source above this many queued bytes
QUEUE_LOW = 1 << 20  # and resume below this
CLOSE_FLUSH_S = 10.0  # a graceful close that cannot flush its buffer is aborted after this


class Side(asyncio.Protocol):
    """One socket of a connection (client or upstream)."""

    __slots__ = ("conn", "transport", "reader", "writer", "early")

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.reader: Pipe | None = None  # the pipe that reads from this side
        self.writer: Pipe | None = None  # the pipe that writes into this side
        # Bytes (None = EOF) that arrive before the upstream is connected. Reading is
        # paused until then, but Python 3.11.2 (Debian bookworm) still registers the
        # reader after a pause made inside connection_made, so data can slip in.
        self.early: list[bytes | None] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.side_made(self)

    def data_received(self, data: bytes) -> None:
        if self.reader is not None:
            self.reader.feed(data)
            return
        self.early.append(data)
        if len(self.early) == 1 and self.transport is not None:
            # Make the pause real on 3.11.2 (its flag says paused, the reader is
            # still registered): resume + pause removes the reader for good.
            self.transport.resume_reading()
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.feed_eof()
        else:
            self.early.append(None)
        return True  # keep the socket open: the other direction may still flow

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.side_lost(self, exc)

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.dst_blocked(True)

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.dst_blocked(False)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Stage:
    """One toxic on one pipe: its input queue, its task, and the toxic's `Run`.

    Stages are chained in the order toxics were added and run concurrently, like
    Toxiproxy's goroutine per toxic, so a delaying toxic does not hold back the
    ones after it (latency and bandwidth compose instead of adding up per chunk).
    A removed toxic's stage turns into a pass-through and unlinks itself once
    empty, so no chunk can overtake an older one.
    """

    __slots__ = ("pipe", "toxic", "run", "queue", "task", "waiter", "removed", "ended")

    def __init__(self, pipe: Pipe, toxic: Toxic, run: Run) -> None:
        self.pipe = pipe
        self.toxic = toxic
        self.run = run
        self.queue: deque[Chunk] = deque()
        self.task: asyncio.Task[None] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.removed = False
        self.ended = False  # the toxic ended the connection: later input is dropped

    def put(self, chunk: Chunk) -> None:
        self.queue.append(chunk)
        if chunk.data:
            self.pipe.queued_add(len(chunk.data))
        if self.task is None:
            self.task = self.pipe.loop.create_task(self._work())

    async def _work(self) -> None:
        pipe = self.pipe
        try:
            while self.queue and not pipe.conn.closed:
                chunk = self.queue.popleft()
                if chunk.data:
                    pipe.queued_add(-len(chunk.data))
                if self.ended:
                    continue
                if self.run.on and not self.removed:
                    await self.toxic.process(pipe, self.run, chunk, self.emit)
                else:
                    await self.emit(chunk)
        except Exception:  # a toxic bug must not take the server down
            log.exception("proxy %s: toxic %s failed", pipe.conn.proxy.name, self.toxic.name)
            pipe.conn.close(graceful=False)
        finally:
            self.task = None
        if self.removed:
            pipe.unlink(self)

    async def emit(self, chunk: Chunk) -> None:
        """Pass a chunk to the next stage, or to the socket after the last one."""
        stages = self.pipe.stages
        i = stages.index(self) + 1 if self in stages else len(stages)
        if i < len(stages):
            stages[i].put(chunk)
        else:
            await self.pipe.sink(chunk)

    def poke(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class Pipe:
    """One direction of a connection: source side -> toxic stages -> destination side."""

    def __init__(self, conn: Conn, direction: str) -> None:
        self.conn = conn
        self.direction = direction
        self.loop = conn.loop
        self.src: Side | None = None
        self.dst: Side | None = None
        self.stages: list[Stage] = []
        self.by_uid: dict[int, Stage] = {}
        self.queued = 0  # bytes waiting in the stages' queues
        self.drain: asyncio.Future[None] | None = None
        self.blocked = False  # destination's write buffer is full
        self.paused_queue = False
        self.paused_dst = False
        self.eof_sent = False
        self.counters = conn.proxy.counters[direction]  # [received, sent]

    # -- what toxics may use ----------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.conn.closed

    def now(self) -> float:
        return self.loop.time()

    def call_later(self, delay_s: float, fn: Callable[[], Any]) -> asyncio.TimerHandle:
        return self.loop.call_later(delay_s, fn)

    def close(self, run: Run | None = None) -> None:
        self._end(run, "close")

    def reset(self, run: Run | None = None) -> None:
        self._end(run, "reset")

    def _end(self, run: Run | None, how: str) -> None:
        """A toxic ends the connection. Data it already passed on still goes through
        the toxics after it, then the end marker closes (or resets) the connection."""
        if self.conn.closed:
            return
        stages = self.stages
        i = next((k for k, s in enumerate(stages) if s.run is run), -1) if run is not None else -1
        if 0 <= i < len(stages) - 1:
            stage = stages[i]
            if stage.ended:
                return
            stage.ended = True
            dropped = sum(len(c.data) for c in stage.queue if c.data)
            stage.queue.clear()
            self.queued_add(-dropped)
            stages[i + 1].put(Chunk(None, self.loop.time(), how))
            return
        self.conn.close(graceful=how == "close", rst=how == "reset")

    async def hold(self, toxic: Toxic, deadline: Callable[[], float]) -> bool:
        """Wait until `deadline()`; re-evaluate it when the toxic is updated.
        False if the toxic was removed or the connection closed meanwhile."""
        stage = self.by_uid.get(toxic.uid)
        loop = self.loop
        while True:
            if self.conn.closed or stage is None or stage.removed:
                return False
            delay = deadline() - loop.time()
            if delay <= 0:
                return True
            fut = loop.create_future()
            stage.waiter = fut
            handle = loop.call_later(delay, _wake, fut)
            try:
                await fut
            finally:
                handle.cancel()
                stage.waiter = None

    # -- toxic lifecycle (called by the proxy) ------------------------------------

    def attach(self, src: Side, dst: Side) -> None:
        self.src, self.dst = src, dst
        src.reader = self
        dst.writer = self
        for toxic in self.conn.proxy.chains[self.direction]:
            self.toxic_added(toxic)
        early, src.early = src.early, []
        for data in early:
            if data is None:
                self.feed_eof()
            else:
                self.feed(data)
        self._update_reading()  # reading was paused until now (see Side.data_received)

    def toxic_added(self, toxic: Toxic) -> None:
        if self.src is None:
            return  # not connected yet: attach() picks the whole chain up
        # Toxicity decides per connection (and again when the toxic is updated).
        run = Run(toxic, random.random() < toxic.toxicity, toxic.new_state())
        stage = Stage(self, toxic, run)
        self.stages.append(stage)
        self.by_uid[toxic.uid] = stage
        if run.on:
            toxic.start(self, run)

    def toxic_updated(self, toxic: Toxic) -> None:
        stage = self.by_uid.get(toxic.uid)
        if stage is None:
            return
        run = stage.run
        if run.on:
            toxic.stop(self, run, removed=False)
        run.on = random.random() < toxic.toxicity
        if run.on:
            toxic.start(self, run)
        stage.poke()

    def toxic_removed(self, toxic: Toxic) -> None:
        stage = self.by_uid.pop(toxic.uid, None)
        if stage is None:
            return
        stage.removed = True
        stage.poke()
        if stage.task is None and not stage.queue:
            self.unlink(stage)
        toxic.stop(self, stage.run, removed=stage.run.on)

    def unlink(self, stage: Stage) -> None:
        if stage in self.stages:
            self.stages.remove(stage)

    def shutdown(self) -> None:
        stages, self.stages = self.stages, []
        self.by_uid = {}
        for stage in stages:
            stage.queue.clear()
            stage.poke()
            if stage.run.on:
                stage.toxic.stop(self, stage.run, removed=False)
        if self.drain is not None and not self.drain.done():
            self.drain.set_result(None)

    # -- reading ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.counters[0] += len(data)
        if not self.stages:
            self._write(data)  # fast path: no toxic on this direction
        else:
            self.stages[0].put(Chunk(data, self.loop.time()))

    def feed_eof(self) -> None:
        if not self.stages:
            self._send_eof()
        else:
            self.stages[0].put(Chunk(None, self.loop.time()))

    def queued_add(self, n: int) -> None:
        self.queued += n
        if not self.paused_queue and self.queued > QUEUE_HIGH:
            self.paused_queue = True
            self._update_reading()
        elif self.paused_queue and self.queued < QUEUE_LOW:
            self.paused_queue = False
            self._update_reading()

    def dst_blocked(self, blocked: bool) -> None:
        self.blocked = blocked
        if not blocked and self.drain is not None and not self.drain.done():
            self.drain.set_result(None)
        if self.paused_dst != blocked:
            self.paused_dst = blocked
            self._update_reading()

    def _update_reading(self) -> None:
        if self.src is None or self.src.transport is None:
            return
        if self.paused_queue or self.paused_dst:
            self.src.transport.pause_reading()
        else:
            self.src.transport.resume_reading()

    # -- writing ------------------------------------------------------------------------

    async def sink(self, chunk: Chunk) -> None:
        """The end of the chain: write to the destination (waiting while it is full)."""
        if self.conn.closed:
            return
        if chunk.data is None:
            if chunk.end == "eof":
                self._send_eof()
            else:
                self.conn.close(graceful=chunk.end == "close", rst=chunk.end == "reset")
            return
        while self.blocked and not self.conn.closed:
            self.drain = self.loop.create_future()
            await self.drain
        if not self.conn.closed:
            self._write(chunk.data)

    def _write(self, data: bytes) -> None:
        transport = self.dst.transport if self.dst is not None else None
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        self.counters[1] += len(data)

    def _send_eof(self) -> None:
        if self.eof_sent:
            return
        self.eof_sent = True
        transport = self.dst.transport if self.dst is not None else None
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()
        self.conn.pipe_ended()


class Conn:
    """A client connection and its upstream connection, joined by two pipes."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.get_running_loop()
        self.client = Side(self)
        self.upstream: Side | None = None
        self.up = Pipe(self, UPSTREAM)  # client -> upstream
        self.down = Pipe(self, DOWNSTREAM)  # upstream -> client
        self.closed = False
        self.connecting: asyncio.Task[None] | None = None

    def pipe(self, direction: str) -> Pipe:
        return self.up if direction == UPSTREAM else self.down

    def side_made(self, side: Side) -> None:
        if side is self.client:
            if self.closed or not self.proxy.enabled:
                side.transport.abort()  # type: ignore[union-attr]
                self.closed = True
                return
            self.proxy.conns.add(self)
            side.transport.pause_reading()  # type: ignore[union-attr]  # until upstream is up
            self.connecting = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        host, port = split_hostport(self.proxy.upstream)
        up = Side(self)
        try:
            await self.loop.create_connection(lambda: up, host, port)
        except (OSError, ValueError) as e:
            log.info(
                "proxy %s: cannot reach upstream %s: %s", self.proxy.name, self.proxy.upstream, e
            )
            self.close(graceful=True)
            return
        except asyncio.CancelledError:
            return
        if self.closed:
            if up.transport is not None:
                up.transport.abort()
            return
        self.upstream = up
        self.up.attach(self.client, up)
        self.down.attach(up, self.client)
        if self.client.transport is not None:
            self.client.transport.resume_reading()

    def side_lost(self, side: Side, exc: Exception | None) -> None:
        if not self.closed:
            # One socket failed or was closed under us: end the other one too,
            # after it has flushed what is already buffered for it.
            self.close(graceful=True)

    def pipe_ended(self) -> None:
        if self.up.eof_sent and self.down.eof_sent:
            self.close(graceful=True)

    def close(self, graceful: bool = True, rst: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.conns.discard(self)
        if self.connecting is not None and not self.connecting.done():
            self.connecting.cancel()
        self.up.shutdown()
        self.down.shutdown()
        for side in (self.client, self.upstream):
            t = side.transport if side is not None else None
            if t is None or (t.is_closing() and not rst):
                continue
            if rst:
                sock = t.get_extra_info("socket")
                if sock is not None:
                    try:  # SO_LINGER 0: close() sends RST instead of FIN
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    except OSError:
                        pass
                t.abort()
            elif graceful:
                t.close()
                self.loop.call_later(CLOSE_FLUSH_S, t.abort)
            else:
                t.abort()


def split_hostport(addr: str) -> tuple[str, int]:
    """'host:port' / '[v6]:port' / ':port' -> (host, port). ValueError if malformed."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        raise ValueError(f"address {addr}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"address {addr}: invalid port") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"address {addr}: invalid port")
    return host, p
