"""The game day's control API: a small JSON-over-HTTP server in the game-day
process (which owns the cluster, the faults and the journal).

The panel's Flask routes in the Locust process forward to it. It listens on
127.0.0.1 only, on a port the OS picks, and every request must carry the run's
random token (header ``X-Chaoskit-Token``), so nothing else on the machine can
inject faults through it.

    GET  /state                        -> LiveRun.status()
    POST /apply {"fault", "params", "source"}   -> {"ok", "fault": {...}}
    POST /heal  {"id": "g1"|"all", "source"}    -> {"ok", "healed": [...]}
    POST /end   {"source"}                      -> {"ok"}  (the game day then ends)
    POST /note  {"message", "source", "fields"} -> {"ok"}  (journal a room action, e.g. users)
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_HEADER = "X-Chaoskit-Token"
SOURCES = ("gameday-web", "gameday-terminal")
MAX_BODY = 64 * 1024


class ControlServer:
    """Serves `handler(verb, body) -> (status, dict)` on 127.0.0.1:<random port>."""

    def __init__(self, handler: Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]):
        self.token = secrets.token_urlsafe(32)
        self.handler = handler
        outer = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:  # the journal is the log
                pass

            def _send(self, status: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                got = self.headers.get(TOKEN_HEADER, "")
                if hmac.compare_digest(got.encode(), outer.token.encode()):
                    return True
                self._send(403, {"ok": False, "error": f"missing or wrong {TOKEN_HEADER}"})
                return False

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path.split("?")[0] != "/state":
                    self._send(404, {"ok": False, "error": f"no such endpoint {self.path}"})
                    return
                self._dispatch("state", {})

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                verb = self.path.strip("/").split("?")[0]
                if verb not in ("apply", "heal", "end", "note"):
                    self._send(404, {"ok": False, "error": f"no such endpoint {self.path}"})
                    return
                n = int(self.headers.get("Content-Length") or 0)
                if n > MAX_BODY:
                    self._send(413, {"ok": False, "error": "request too large"})
                    return
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError("the body must be a JSON object")
                except ValueError as e:
                    self._send(400, {"ok": False, "error": f"bad JSON body: {e}"})
                    return
                self._dispatch(verb, body)

            def _dispatch(self, verb: str, body: dict[str, Any]) -> None:
                try:
                    status, obj = outer.handler(verb, body)
                except Exception as e:  # never kill the server thread over one request
                    status, obj = 500, {"ok": False, "error": f"{type(e).__name__}: {e}"}
                self._send(status, obj)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="gameday-control", daemon=True
        )

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
