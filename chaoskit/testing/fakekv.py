"""A tiny linearizable key-value server and its adapter, for the load package's own tests.

Not a system under test: one process, one lock, every operation atomic, so any
history recorded against it must be linearizable. `hang_every=N` makes every Nth
request sleep past the client's timeout (it still applies), which is how tests get
honest `info` outcomes. Stdlib only.

    python -m chaoskit.testing.fakekv --port-file F [--hang-every N] [--hang-s S]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chaoskit.atomic import atomic_write_text
from chaoskit.systems.base import Client, NodeSpec, Outcome, SystemAdapter, SystemContext
from chaoskit.systems.httpconn import OneWriteHTTPConnection
from chaoskit.topology.model import Endpoint


class _Store:
    def __init__(self, hang_every: int, hang_s: float) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {}
        self.n = 0
        self.hang_every, self.hang_s = hang_every, hang_s

    def apply(self, f: str, key: str, value: Any) -> tuple[int, dict]:
        with self.lock:
            self.n += 1
            hang = self.hang_every and self.n % self.hang_every == 0
            if f == "read":
                res = (200, {"value": self.data.get(key)})
            elif f == "write":
                self.data[key] = value
                res = (200, {})
            elif f == "cas":
                if self.data.get(key) == value[0]:
                    self.data[key] = value[1]
                    res = (200, {})
                else:
                    res = (409, {"error": "cas mismatch"})
            elif f == "add":
                self.data.setdefault(key, []).append(value)
                res = (200, {})
            elif f == "read-all":
                res = (200, {"value": sorted(self.data.get(key, []))})
            else:
                res = (400, {"error": f"unknown f {f!r}"})
        if hang:
            time.sleep(self.hang_s)  # applied, but the client gives up first: info
        return res


def serve(port_file: Path, hang_every: int = 0, hang_s: float = 3.0) -> None:
    store = _Store(hang_every, hang_s)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One segment per response, sent at once: a response written as headers then
        # body on a Nagle socket waits for the client's delayed ACK (~40 ms per request).
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, *a: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            code, out = store.apply(body.get("f"), body.get("key"), body.get("value"))
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients that gave up (timeouts) are expected here

    srv = Server(("127.0.0.1", 0), H)
    atomic_write_text(
        port_file, json.dumps({"port": srv.server_address[1], "pid": os.getpid()}), durable=False
    )
    srv.serve_forever()


class FakeKVClient(Client):
    def __init__(self, ep: Endpoint, node: str, timeout_s: float) -> None:
        self.ep, self.node, self.timeout_s = ep, node, timeout_s
        self.conn: OneWriteHTTPConnection | None = None

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        body = json.dumps({"f": f, "key": key, "value": value}).encode()
        try:
            if self.conn is None:
                self.conn = OneWriteHTTPConnection(
                    self.ep.host, self.ep.port, timeout=self.timeout_s
                )
                self.conn.connect()
        except OSError as e:
            self.close()
            return Outcome("fail", None, f"connect: {e}")  # never sent: certainly not applied
        try:
            self.conn.post("/op", body, {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            out = json.loads(resp.read() or b"{}")
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            self.close()
            return Outcome("info", None, f"{type(e).__name__}: {e}")
        if resp.status == 200:
            return Outcome("ok", out.get("value"))
        return Outcome("fail", None, out.get("error", f"HTTP {resp.status}"))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class FakeKVAdapter(SystemAdapter):
    kind = "fakekv"
    workloads = ("register", "cas-register", "set")

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        raise NotImplementedError("fakekv is started by tests directly")

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        pass

    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        node = sorted(view)[0]
        return FakeKVClient(view[node]["http"], node, timeout_s)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m chaoskit.testing.fakekv")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--hang-every", type=int, default=0)
    ap.add_argument("--hang-s", type=float, default=3.0)
    a = ap.parse_args()
    serve(Path(a.port_file), a.hang_every, a.hang_s)


def add_ping_route(env: Any) -> None:
    """A web_ui "extra" hook for tests: registers GET /chaoskit-ping on Locust's web UI."""
    env.web_ui.app.add_url_rule("/chaoskit-ping", "chaoskit_ping", lambda: "pong")


if __name__ == "__main__":
    main()
