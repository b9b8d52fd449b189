"""An HTTP/1.1 keep-alive connection that sends each request in one write.

http.client writes a request's headers and its body with two send() calls: a
second system call per request, and on a socket with Nagle's algorithm the body
waits for the peer to acknowledge the headers, which a delayed ACK holds back
~40 ms. Load clients make thousands of small requests a second, so
`OneWriteHTTPConnection.post` joins headers and body into one write on a
TCP_NODELAY socket. Stdlib only (it runs inside gevent-patched Locust processes).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Mapping


class OneWriteHTTPConnection(http.client.HTTPConnection):
    _body = b""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Send a POST request (read the answer with getresponse())."""
        self.request_in_one_write("POST", url, body, headers)

    def request_in_one_write(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> None:
        """Send a request, headers and body in one write (then call getresponse())."""
        self.putrequest(method, url, skip_accept_encoding=True)
        for name, value in headers.items():
            self.putheader(name, value)
        if body is not None:
            self.putheader("Content-Length", str(len(body)))
        elif method in ("POST", "PUT", "PATCH"):
            self.putheader("Content-Length", "0")  # as http.client does
        self._body = body or b""
        try:
            self.endheaders()  # one send() of the header block, joined with the body below
        finally:
            self._body = b""

    def send(self, data: bytes) -> None:  # type: ignore[override]
        body, self._body = self._body, b""
        super().send(data + body if body else data)
