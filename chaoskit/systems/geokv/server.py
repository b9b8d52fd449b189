"""The HTTP/1.1 front of a node: parsing, limits, routing (stdlib only).

A ThreadingHTTPServer with keep-alive: one thread per connection, which is what
the load (one connection per user) and the peers (one per pool thread) need.
Malformed input never reaches an engine: bad framing or JSON answers 400, a body
over the limit 413 (and the connection is closed without reading it).
"""

from __future__ import annotations

import json
import socket
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chaoskit.systems.geokv.config import NodeConfig
from chaoskit.systems.geokv.engine import Engine, Result, refused
from chaoskit.systems.geokv.ops import check
from chaoskit.systems.geokv.peers import PeerPool


def make_engine(cfg: NodeConfig) -> Engine:
    pool = PeerPool(cfg.peers, cfg.peer_timeout_s)
    if cfg.mode == "quorum":
        from chaoskit.systems.geokv.quorum import QuorumEngine

        return QuorumEngine(cfg, pool)
    if cfg.mode == "lww":
        from chaoskit.systems.geokv.lww import LwwEngine

        return LwwEngine(cfg, pool)
    from chaoskit.systems.geokv.unit import UnitEngine

    return UnitEngine(cfg, pool)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "geokv/1"
    # Garbage request lines are answered with a real status line, not HTTP/0.9.
    default_request_version = "HTTP/1.0"
    timeout = 300  # idle keep-alive connections are closed after this (slowloris guard)
    # Buffered writes: status, headers and body leave in one segment at the flush
    # after each request. Separate small writes meet Nagle + delayed ACK and cost
    # ~40 ms per response.
    wbufsize = 1 << 16
    server: GeoKVServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # one line per request would cost more than serving it

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        sys.stderr.write(f"geokv {self.server.cfg.id}: {format % args}\n")

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _send(self, res: Result, close: bool = False) -> None:
        data = json.dumps(res.body).encode()
        self.send_response(res.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any] | None:
        """The JSON object body, or None after answering an error."""
        if self.headers.get("Transfer-Encoding"):
            self._send(
                refused("Transfer-Encoding is not supported; send Content-Length", 411), close=True
            )
            return None
        cl = self.headers.get("Content-Length")
        if cl is None:
            return {}
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
        except ValueError:
            self._send(refused(f"bad Content-Length {cl!r}", 400), close=True)
            return None
        if n > self.server.cfg.max_body:
            # Do not read it: answer and drop the connection.
            self._send(
                refused(f"body of {n} bytes exceeds the limit of {self.server.cfg.max_body}", 413),
                close=True,
            )
            return None
        raw = self.rfile.read(n) if n else b""
        if len(raw) < n:
            self.close_connection = True
            return None
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            self._send(refused(f"body is not JSON: {e}", 400))
            return None
        if not isinstance(body, dict):
            self._send(refused("body must be a JSON object", 400))
            return None
        return body

    def _dispatch(self, method: str) -> None:
        body = self._body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        try:
            res = self._route(method, path, body)
        except Exception as e:  # noqa: BLE001 - a node must keep serving whatever happens
            traceback.print_exc()
            res = refused(f"internal error: {e!r}", 500)
            res.body["definite"] = False
        self._send(res)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> Result:
        eng = self.server.engine
        if path == "/op" and method == "POST":
            f, key, value = body.get("f"), body.get("key"), body.get("value")
            bad = check(f, key, value)
            if bad:
                return refused(bad, 400)
            try:
                hops = int(self.headers.get("X-Geokv-Hops", "0"))
            except ValueError:
                hops = 0
            budget = eng.cfg.op_timeout_s
            # The client's own patience: answer (definitely) before it gives up. The
            # header is optional (curl, other clients); a missing header reads as None
            # (email.message semantics, never KeyError), so test for it explicitly.
            raw_budget = self.headers.get("X-Geokv-Budget-Ms")
            if raw_budget is not None:
                try:
                    budget = min(budget, max(0.05, int(raw_budget) / 1000))
                except ValueError:
                    pass
            return eng.op(f, key, value, hops, budget)
        if path.startswith("/internal/") and method == "POST":
            return eng.internal(path, body)
        if path == "/health":
            return Result(200, eng.health())
        if path == "/admin/members":
            if method == "GET":
                return Result(200, {"ok": True, "members": eng.members})
            members = body.get("members")
            if (
                not isinstance(members, list)
                or not members
                or not all(isinstance(m, str) for m in members)
            ):
                return refused("'members' must be a non-empty list of node names", 400)
            unknown_ = [m for m in members if m not in eng.cfg.peers]
            if unknown_:
                return refused(
                    f"unknown members {unknown_}; known nodes: {', '.join(sorted(eng.cfg.peers))}",
                    400,
                )
            eng.set_members(members)
            return Result(200, {"ok": True, "members": eng.members})
        if path == "/admin/freeze" and method in ("POST", "PUT"):
            frozen = bool(body.get("frozen", True))
            if frozen != eng.frozen:
                eng.log("frozen for a membership change" if frozen else "thawed")
            eng.frozen = frozen
            return Result(200, {"ok": True, "frozen": eng.frozen})
        if path == "/admin/snapshot":
            return Result(200, {"ok": True, "state": eng.snapshot()})
        if path == "/admin/install" and method in ("POST", "PUT"):
            states = body.get("states")
            if not isinstance(states, list) or not all(isinstance(s, dict) for s in states):
                return refused("'states' must be a list of snapshots (GET /admin/snapshot)", 400)
            try:
                eng.install(states)
            except (ValueError, TypeError, KeyError, IndexError) as e:
                return refused(f"bad snapshot: {e}", 400)
            eng.log(f"installed state merged from {len(states)} snapshot(s)")
            return Result(200, {"ok": True})
        if path == "/admin/roles":
            return Result(200, {"ok": True, "roles": eng.roles()})
        return refused(f"no route {method} {path}", 404)


class GeoKVServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, cfg: NodeConfig, engine: Engine) -> None:
        self.cfg = cfg
        self.engine = engine
        super().__init__((cfg.listen_host, cfg.listen_port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and timeouts from clients are normal under chaos; keep it to one line.
        exc = sys.exc_info()[1]
        sys.stderr.write(f"geokv {self.cfg.id}: connection from {client_address}: {exc!r}\n")
