"""Small real-socket helpers for tests of anything behind a link (any package may use them).

    with EchoServer() as echo:          # echoes every byte back; echo.address = "127.0.0.1:PORT"
        ...
    with TcpServer(handler) as srv:     # handler(sock) runs per connection in a thread
        ...
    with LinkServer() as links: ...     # chaoskit.links.server

Threads, not asyncio, so the server under test and the helper never share a loop.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 1024  # the default 5 drops SYNs when many connect at once


class TcpServer:
    """A threaded TCP server on 127.0.0.1, port chosen by the OS."""

    def __init__(self, handler: Callable[[socket.socket], None], host: str = "127.0.0.1") -> None:
        outer = self
        self.connections: list[socket.socket] = []

        class _H(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections.append(self.request)
                try:
                    handler(self.request)
                except OSError:
                    pass

        self._srv = _Server((host, 0), _H)
        self.host, self.port = self._srv.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> TcpServer:
        self._thread = threading.Thread(
            target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        for c in self.connections:
            try:
                c.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> TcpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _echo(sock: socket.socket) -> None:
    while True:
        data = sock.recv(65536)
        if not data:
            sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(data)


class EchoServer(TcpServer):
    """Echoes every byte; on EOF from the client it half-closes back."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(_echo, host)
