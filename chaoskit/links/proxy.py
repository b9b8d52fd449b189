"""One proxy: a listener, its open connections, and a toxic chain per stream.

Semantics follow Toxiproxy's proxy.go / toxic_collection.go: `listen` reports the
bound address once started (port 0 -> the real port); stopping closes the listener
and every open connection; toxics are kept in the order they were added, per
stream, and changes reach connections that are already open.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any

from chaoskit.links.errors import INVALID_STREAM, TOXIC_EXISTS, TOXIC_NOT_FOUND, ApiError
from chaoskit.links.pipe import Conn, split_hostport
from chaoskit.links.toxics import DOWNSTREAM, STREAMS, UPSTREAM, Toxic

log = logging.getLogger("chaoskit.links")

BACKLOG = 1024


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        # Copy-on-write tuples: a pipe reads its chain per chunk without locking.
        self.chains: dict[str, tuple[Toxic, ...]] = {UPSTREAM: (), DOWNSTREAM: ()}
        self.conns: set[Conn] = set()
        self.counters: dict[str, list[int]] = {
            UPSTREAM: [0, 0],
            DOWNSTREAM: [0, 0],
        }  # received, sent
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None

    # -- JSON ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics()],
        }

    # -- listener ------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and accept. Raises ApiError(500) when the address cannot be bound."""
        if self.enabled:
            return
        loop = asyncio.get_running_loop()
        try:
            host, port = split_hostport(self.listen)
            infos = await loop.getaddrinfo(
                host or "0.0.0.0", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, type_, proto, _, addr = infos[0]
            sock = socket.socket(family, type_, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
                sock.listen(BACKLOG)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
        except (OSError, ValueError) as e:
            msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ApiError(f"listen tcp {self.listen}: {msg}", 500) from None
        self.listen = format_addr(sock.getsockname())
        self.enabled = True
        self._sock = sock
        self._accepting = loop.create_task(self._accept(sock))
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    async def _accept(self, sock: socket.socket) -> None:
        """Our own accept loop rather than loop.create_server: when the proxy stops,
        a connection accepted in that very moment must be closed at once, and
        asyncio's Server can leave such a socket open until garbage collection."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                client, _ = await loop.sock_accept(sock)
            except OSError as e:
                if not self.enabled or sock.fileno() < 0:
                    return
                log.warning("proxy %s: accept failed: %s", self.name, e)
                await asyncio.sleep(0.05)  # e.g. EMFILE: do not spin
                continue
            if not self.enabled:
                client.close()
                return
            try:
                await loop.connect_accepted_socket(lambda: Conn(self).client, client)
            except Exception as e:  # the client went away already
                log.debug("proxy %s: dropped an incoming connection: %s", self.name, e)
                client.close()

    def stop(self) -> None:
        """Close the listener and every open connection (Toxiproxy: conn.Close())."""
        if not self.enabled:
            return
        self.enabled = False
        if self._accepting is not None:
            self._accepting.cancel()
            self._accepting = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for conn in list(self.conns):
            conn.close(graceful=False)
        log.info("proxy %s stopped", self.name)

    def listen_differs(self, listen: str) -> bool:
        """Toxiproxy's Differs on listen: compare the normalised address to the bound one."""
        try:
            host, port = split_hostport(listen)
        except ValueError:
            return True
        try:
            host = str(ipaddress.ip_address(host or "0.0.0.0"))
        except ValueError:
            pass
        return format_addr((host, port)) != self.listen

    # -- toxics --------------------------------------------------------------------

    def toxics(self) -> list[Toxic]:
        return [*self.chains[UPSTREAM], *self.chains[DOWNSTREAM]]

    def find_toxic(self, name: str) -> Toxic | None:
        for t in self.toxics():
            if t.name == name:
                return t
        return None

    def toxic_index(self) -> dict[int, Toxic]:
        return {t.uid: t for t in self.toxics()}

    def add_toxic(self, toxic: Toxic) -> None:
        if toxic.stream not in STREAMS:
            raise INVALID_STREAM
        if self.find_toxic(toxic.name) is not None:
            raise TOXIC_EXISTS
        self.chains[toxic.stream] = (*self.chains[toxic.stream], toxic)
        for conn in list(self.conns):
            conn.pipe(toxic.stream).toxic_added(toxic)

    def update_toxic(self, toxic: Toxic, attributes: dict[str, int], toxicity: float) -> None:
        toxic.attributes = attributes
        toxic.toxicity = toxicity
        for conn in list(self.conns):
            conn.pipe(toxic.stream).toxic_updated(toxic)

    def remove_toxic(self, name: str) -> Toxic:
        toxic = self.find_toxic(name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        self.chains[toxic.stream] = tuple(t for t in self.chains[toxic.stream] if t is not toxic)
        toxic.removed = True
        for conn in list(self.conns):
            conn.pipe(toxic.stream).toxic_removed(toxic)
        return toxic

    def reset_toxics(self) -> None:
        for t in self.toxics():
            self.remove_toxic(t.name)


def format_addr(addr: tuple[Any, ...]) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
