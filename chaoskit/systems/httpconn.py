"""A lean HTTP/1.1 keep-alive connection for load clients: one write per request.

http.client writes a request's headers and its body with two send() calls (on a
Nagle socket the body then waits for a delayed ACK, ~40 ms), and reads the answer
through a buffered file object, an email-parser header block and a response object:
several layers of pure Python per request, which under gevent (Locust's processes)
cost more than the request itself against a fast local server. `OneWriteHTTPConnection`
keeps http.client's interface for what the clients use (`connect`, `sock`, `post`,
`request_in_one_write`, `getresponse` → `.status`, `.read()`, `.getheader()`,
`close`) and its errors (`http.client.HTTPException` subclasses, `OSError`,
`TimeoutError`), but sends each request in one write on a TCP_NODELAY socket
and parses the answer straight from a receive buffer: status line, headers, then a
body framed by Content-Length, chunked transfer coding, or the connection's end.
Stdlib only (it runs inside gevent-patched Locust processes).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Mapping

_RECV = 65536
_MAX_HEAD = 65536
_NO_BODY = frozenset((204, 304))


class Response:
    """One complete answer: status, reason, headers (lower-case names), body."""

    __slots__ = ("status", "reason", "headers", "body", "will_close")

    def __init__(
        self, status: int, reason: str, headers: dict[str, str], body: bytes, will_close: bool
    ) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        self.body, self.will_close = body, will_close

    def read(self) -> bytes:
        return self.body

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class OneWriteHTTPConnection:
    """A keep-alive HTTP/1.1 connection to host:port; one request outstanding at a time."""

    def __init__(self, host: str, port: int, timeout: float | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self._buf = b""
        self._method = "GET"
        self._host_header = f"Host: {host}:{port}\r\n".encode("latin-1")

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._buf = b""
        if sock is not None:
            sock.close()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Send a POST request (read the answer with getresponse())."""
        self.request_in_one_write("POST", url, body, headers)

    def request_in_one_write(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> None:
        """Send a request, headers and body in one write (then call getresponse())."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        head = [f"{method} {url} HTTP/1.1\r\n".encode("latin-1"), self._host_header]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        if body is not None:
            head.append(b"Content-Length: %d\r\n\r\n" % len(body))
            head.append(body)
        elif method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: 0\r\n\r\n")  # as http.client does
        else:
            head.append(b"\r\n")
        self._method = method
        data = b"".join(head)
        # One send() carries a request that fits the socket buffer (all of them, in
        # practice); sendall() only for what it left. Under gevent this skips
        # sendall's per-call SO_SNDBUF lookup (a system call) and its chunking loop.
        sent = self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def getresponse(self) -> Response:
        """Read the answer to the request just sent (1xx interim answers skipped)."""
        while True:
            status, reason, headers = self._read_head()
            if 100 <= status < 200 and status != 101:
                continue
            break
        will_close = headers.get("connection", "").lower() == "close"
        if self._method == "HEAD" or status in _NO_BODY:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            try:
                n = int(headers["content-length"])
            except ValueError:
                raise http.client.HTTPException(
                    f"bad Content-Length {headers['content-length']!r}"
                ) from None
            body = self._read_exactly(n)
        else:
            body, will_close = self._read_to_end(), True
        if will_close:
            self.close()
        return Response(status, reason, headers, body, will_close)

    def _fill(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(_RECV)
        if data:
            self._buf += data
        return data

    def _read_line_block(self, end: bytes, what: str) -> bytes:
        """Bytes up to and including `end`, from the buffer and the socket."""
        if self.sock is None:
            raise http.client.RemoteDisconnected("connection closed")
        while True:
            i = self._buf.find(end)
            if i >= 0:
                block, self._buf = self._buf[: i + len(end)], self._buf[i + len(end) :]
                return block
            if len(self._buf) > _MAX_HEAD:
                raise http.client.LineTooLong(what)
            if not self._fill():
                if self._buf:
                    raise http.client.IncompleteRead(self._buf)
                raise http.client.RemoteDisconnected(
                    "Remote end closed connection without response"
                )

    def _read_head(self) -> tuple[int, str, dict[str, str]]:
        block = self._read_line_block(b"\r\n\r\n", "header block")
        lines = block[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise http.client.BadStatusLine(lines[0])
        try:
            status = int(parts[1])
        except ValueError:
            raise http.client.BadStatusLine(lines[0]) from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise http.client.HTTPException(f"malformed header line {line!r}")
            headers[name.strip().lower()] = value.strip()
        if parts[0] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            headers.setdefault("connection", "close")
        return status, parts[2] if len(parts) > 2 else "", headers

    def _read_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                got, self._buf = self._buf, b""
                raise http.client.IncompleteRead(got, n - len(got))
        body, self._buf = self._buf[:n], self._buf[n:]
        return body

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            line = self._read_line_block(b"\r\n", "chunk size")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise http.client.HTTPException(f"bad chunk size {line[:40]!r}") from None
            if size == 0:
                while self._read_line_block(b"\r\n", "trailer") != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(self._read_exactly(size))
            if self._read_exactly(2) != b"\r\n":
                raise http.client.HTTPException("chunk not followed by CRLF")

    def _read_to_end(self) -> bytes:
        while self._fill():
            pass
        body, self._buf = self._buf, b""
        return body
