"""OneWriteHTTPConnection against real servers: requests and answers on one keep-alive
connection, the body intact, Nagle off; every answer framing, split at any byte; broken
answers raising what http.client raises (the clients classify by those)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


def test_a_body_larger_than_the_send_buffer_arrives_whole() -> None:
    # one send() takes what the socket buffer holds; the rest must follow
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        conn = OneWriteHTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
        conn.connect()
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        body = bytes(range(48, 58)) * 200_000  # 2 MB of digits
        conn.post("/big", body, {"Content-Type": "text/plain"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["body"] == body.decode()
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


class _Scripted:
    """A raw TCP server answering each request on a connection with the next scripted
    bytes, written a few bytes at a time (so answers arrive split at any point);
    None closes the connection instead of answering."""

    def __init__(self, answers: list[bytes | None], close_each: bool = False) -> None:
        self.answers, self.close_each = list(answers), close_each
        self.requests: list[bytes] = []
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while self.answers:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(4096)
                        if not data:
                            break
                        buf += data
                    if b"\r\n\r\n" not in buf:
                        break
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    self.requests.append(head.split(b"\r\n", 1)[0])
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    for i in range(0, len(answer), 7):
                        conn.sendall(answer[i : i + 7])
                    if self.close_each or b"Connection: close" in answer or b"HTTP/1.0" in answer:
                        break

    def close(self) -> None:
        self.lsock.close()


def test_answer_framings_split_anywhere() -> None:
    srv = _Scripted(
        [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n0a\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",  # a HEAD: no body follows
            b"HTTP/1.0 404 Not Found\r\nX-A:  spaced \r\n\r\nno length, ends at close",
        ]
    )
    try:
        conn = OneWriteHTTPConnection("127.0.0.1", srv.port, timeout=5)
        got = []
        for method in ("POST", "GET", "DELETE", "HEAD", "GET"):
            conn.request_in_one_write(method, "/k", b"{}" if method == "POST" else None, {})
            resp = conn.getresponse()
            got.append((resp.status, resp.read()))
        assert got == [
            (200, b"hello"),
            (200, b"abc0123456789"),
            (204, b""),
            (200, b""),
            (404, b"no length, ends at close"),
        ]
        assert resp.getheader("x-a") == "spaced" and resp.getheader("missing", "d") == "d"
        assert conn.sock is None  # an HTTP/1.0 answer without keep-alive ends the connection
        assert len(srv.requests) == 5  # the first four on one kept-alive connection
    finally:
        srv.close()
        conn.close()


def test_broken_answers_raise_what_http_client_raises() -> None:
    cases: list[tuple[bytes | None, type[Exception]]] = [
        (None, http.client.RemoteDisconnected),  # closed before answering
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
        (b"SMTP ready\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 2xx OK\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.HTTPException),
    ]
    for answer, exc in cases:
        srv = _Scripted([answer], close_each=True)
        conn = OneWriteHTTPConnection("127.0.0.1", srv.port, timeout=5)
        try:
            conn.request_in_one_write("GET", "/", None, {})
            with pytest.raises(exc):
                conn.getresponse()
        finally:
            conn.close()
            srv.close()


def test_a_silent_server_times_out() -> None:
    lsock = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    try:
        conn = OneWriteHTTPConnection("127.0.0.1", lsock.getsockname()[1], timeout=0.2)
        conn.request_in_one_write("GET", "/", None, {})
        with pytest.raises(TimeoutError):
            conn.getresponse()
        conn.close()
    finally:
        lsock.close()
