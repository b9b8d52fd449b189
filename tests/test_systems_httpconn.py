"""OneWriteHTTPConnection against a real stdlib HTTP server: requests and answers on one
keep-alive connection, the body intact, Nagle off."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chaoskit.systems.httpconn import OneWriteHTTPConnection


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        out = json.dumps(
            {"path": self.path, "body": body.decode(), "type": self.headers["Content-Type"]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def test_posts_on_one_keep_alive_connection() -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        conn = OneWriteHTTPConnection("127.0.0.1", srv.server_address[1], timeout=5)
        conn.connect()
        assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        first = conn.sock
        for i, body in enumerate([b'{"n": 1}', b"", "é".encode() * 3000]):
            conn.post(f"/op/{i}", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            got = json.loads(resp.read())
            assert resp.status == 200
            assert got == {"path": f"/op/{i}", "body": body.decode(), "type": "application/json"}
        assert conn.sock is first  # kept alive: every request went over the one connection
        conn.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_get_and_put_without_a_body() -> None:
    seen: list[tuple[str, str | None]] = []

    class _Any(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:
            pass

        def _answer(self) -> None:
            n = self.headers.get("Content-Length")
            seen.append((self.command, n))
            if n:
                self.rfile.read(int(n))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = _answer  # noqa: N815

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Any)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        conn = OneWriteHTTPConnection("127.0.0.1", srv.server_address[1], timeout=5)
        for method in ("GET", "PUT"):
            conn.request_in_one_write(method, "/x", None, {})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 204
        conn.close()
        # no body: GET says nothing about one, PUT says it is empty (as http.client does)
        assert seen == [("GET", None), ("PUT", "0")]
    finally:
        srv.shutdown()
        srv.server_close()
