"""Run the link server: in-process (a thread with its own event loop) or as a process.

In-process, for tests and tools:

    from chaoskit.links.server import LinkServer
    srv = LinkServer(host="127.0.0.1", port=0).start()   # returns once listening
    srv.url    # "http://127.0.0.1:<port>"  (srv.port, srv.host)
    ...
    srv.stop()                                           # closes every proxy and connection
    # or: with LinkServer() as srv: ...

As a process (the engine's way, and the container entrypoint):

    python -m chaoskit.links --host 127.0.0.1 --port 0 --port-file PATH

writes the bound API port to PATH (atomically) once listening, logs to stderr,
and exits cleanly on SIGTERM/SIGINT. `chaoskit links serve` wraps the same.

Imports only the standard library and aiohttp (the link container is a plain
Debian bookworm with python3 and python3-aiohttp).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from pathlib import Path

from aiohttp import web

from chaoskit.access import token_required
from chaoskit.atomic import atomic_write_text
from chaoskit.links.api import Api
from chaoskit.links.core import LinkCore

log = logging.getLogger("chaoskit.links")


class AsyncLinkServer:
    """The server on the current event loop: `await start()`, `await stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        token_required(host, token)  # anywhere but loopback: every request needs it
        self.host = host
        self.port = port
        self.token = token
        self.core = LinkCore()
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Bind the API socket and serve; returns the bound port."""
        infos = socket.getaddrinfo(
            self.host or "0.0.0.0", self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.setblocking(False)
            self.port = sock.getsockname()[1]
            self._runner = web.AppRunner(Api(self.core, self.token).app(), access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
        except BaseException:
            sock.close()
            await self.stop()
            raise
        log.info("link server API on http://%s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        await self.core.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class LinkServer:
    """The link server in a background thread with its own event loop.

    LinkServer(host: str = "127.0.0.1", port: int = 0); .start(timeout_s=10) -> self;
    .host, .port, .url; .stop(timeout_s=10); usable as a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: AsyncLinkServer | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> LinkServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            self._server = AsyncLinkServer(self.host, self.port, self.token)
            try:
                self.port = await self._server.start()
            except BaseException as e:
                failure.append(e)
                ready.set()
                return
            ready.set()
            try:
                await self._stopped.wait()
            finally:
                await self._server.stop()

        # asyncio.run: leftover tasks are cancelled and the loop closed on the way out.
        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="chaoskit-links", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout_s):
            raise TimeoutError(f"link server did not start within {timeout_s} s")
        if failure:
            self._thread.join(timeout_s)
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread is None:
            return
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:  # loop already gone
                pass
        self._thread.join(timeout_s)
        self._thread = None

    def __enter__(self) -> LinkServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_port_file(path: str | Path, port: int) -> None:
    """Write the port atomically: readers never see an empty or partial file."""
    atomic_write_text(path, f"{port}\n", durable=False)


async def serve(
    host: str, port: int, port_file: str | None = None, token: str | None = None
) -> None:
    """Serve until SIGTERM/SIGINT; then close every proxy and connection."""
    server = AsyncLinkServer(host, port, token)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if port_file:
            write_port_file(port_file, server.port)
        await stop.wait()
        log.info("link server stopping")
    finally:
        await server.stop()


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
