"""The http and command client protocols against real servers and real commands:
every outcome class (ok / fail / info / cas-mismatch) is produced by a real answer."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import free_port

from chaoskit.clients import PROTOCOLS, UnknownProtocolError, get_protocol
from chaoskit.clients.statuses import parse_codes


class _KV(BaseHTTPRequestHandler):
    store: dict[str, int] = {}

    def log_message(self, *a: object) -> None:
        pass

    def _reply(self, status: int, doc: object = None) -> None:
        body = json.dumps(doc).encode() if doc is not None else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        key = self.path.rsplit("/", 1)[-1]
        if key == "slow":
            time.sleep(1.0)
        if key not in self.store:
            return self._reply(404, {"error": "absent"})
        self._reply(200, {"value": self.store[key]})

    def do_PUT(self) -> None:
        key = self.path.rsplit("/", 1)[-1]
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if key == "boom":
            return self._reply(500, {"error": "maybe"})
        if key == "bad":
            return self._reply(400, {"error": "refused"})
        if key == "slow":
            time.sleep(1.0)
        self.store[key] = doc["value"]
        self._reply(204)

    def do_POST(self) -> None:
        key = self.path.rsplit("/", 1)[-1]
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.store.get(key) != doc["from"]:
            return self._reply(409, {"error": "mismatch"})
        self.store[key] = doc["to"]
        self._reply(200, {})


HTTP_OPTIONS = {
    "protocol": "http",
    "headers": {"Content-Type": "application/json"},
    "read": {"method": "GET", "path": "/kv/{key}", "value": "json:value"},
    "write": {"method": "PUT", "path": "/kv/{key}", "body": '{"value": {value}}'},
    "cas": {
        "method": "POST",
        "path": "/cas/{key}",
        "body": '{"from": {expected}, "to": {new}}',
        "mismatch": [409],
    },
}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hung up on a slow answer: expected here


@pytest.fixture
def kv_server():
    _KV.store = {}
    srv = _Server(("127.0.0.1", 0), _KV)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_registry_lists_the_shared_protocols() -> None:
    assert {"http", "command", "redis", "sql"} <= set(PROTOCOLS)
    with pytest.raises(UnknownProtocolError, match="'smtp'; valid: command, http, redis, sql"):
        get_protocol("smtp")


def test_http_outcomes(kv_server: int) -> None:
    cls = get_protocol("http")
    assert cls.check_options(HTTP_OPTIONS) == []
    c = cls(HTTP_OPTIONS, "127.0.0.1", kv_server, 0.5)
    try:
        assert c.invoke("read", "k", None).type == "ok"  # 404 = absent
        assert c.invoke("read", "k", None).value is None
        assert c.invoke("write", "k", 3).type == "ok"
        assert c.invoke("read", "k", None).value == 3
        assert c.invoke("cas", "k", [3, 4]).type == "ok"
        miss = c.invoke("cas", "k", [3, 5])
        assert miss.type == "fail" and miss.error.startswith("cas-mismatch")
        assert c.invoke("read", "k", None).value == 4
        assert c.invoke("write", "boom", 1).type == "info"  # 5xx: unknown
        assert c.invoke("write", "bad", 1).type == "fail"  # 4xx: certainly not
        assert c.invoke("write", "slow", 1).type == "info"  # timed out after sending
        assert c.invoke("read", "slow", None).type == "fail"  # reads have no effect
    finally:
        c.close()
    refused = cls(HTTP_OPTIONS, "127.0.0.1", free_port(), 0.5).invoke("write", "k", 1)
    assert refused.type == "fail" and "cannot connect" in refused.error


def test_http_bad_options_name_the_field() -> None:
    bad = {
        "protocol": "http",
        "ok": ["2xx", "nope"],
        "read": {"method": "FETCH", "path": "kv/{key}"},
        "write": {"path": "/kv/{key}", "body": '{"v": {vale}}', "absent": [404]},
    }
    problems = dict(get_protocol("http").check_options(bad))
    assert "'nope' is not a code" in problems["ok"]
    assert "valid: GET, POST" in problems["read.method"]
    assert "starting with '/'" in problems["read.path"]
    assert "unknown placeholder {vale} for write; valid: {key}, {value}" in problems["write.body"]
    assert "only read has absent" in problems["write.absent"]


KV_SCRIPT = """\
import json, sys
from pathlib import Path
op, path, key, *rest = sys.argv[1:]
db = Path(path)
data = json.loads(db.read_text()) if db.exists() else {}
if op == "get":
    print(json.dumps(data.get(key)))
elif op == "set":
    if key == "hang":
        import time; time.sleep(5)
    if key == "crash":
        sys.exit(7)
    data[key] = int(rest[0]); db.write_text(json.dumps(data))
elif op == "cas":
    if data.get(key) != int(rest[0]):
        sys.exit(3)
    data[key] = int(rest[1]); db.write_text(json.dumps(data))
elif op == "refuse":
    sys.exit(1)
"""


def test_command_outcomes(tmp_path: Path) -> None:
    script = tmp_path / "kv.py"
    script.write_text(KV_SCRIPT)
    db = str(tmp_path / "db.json")
    base = [sys.executable, str(script)]
    opts = {
        "protocol": "command",
        "read": [*base, "get", db, "{key}"],
        "write": [*base, "set", db, "{key}", "{value}"],
        "cas": [*base, "cas", db, "{key}", "{expected}", "{new}"],
        "add": [*base, "refuse", db, "{key}"],
        "mismatch_exit": [3],
    }
    cls = get_protocol("command")
    assert cls.check_options(opts) == []
    c = cls(opts, "127.0.0.1", 1, 2.0)
    assert c.invoke("read", "k", None).value is None
    assert c.invoke("write", "k", 5).type == "ok"
    assert c.invoke("read", "k", None).value == 5
    assert c.invoke("cas", "k", [5, 6]).type == "ok"
    miss = c.invoke("cas", "k", [5, 7])
    assert miss.type == "fail" and miss.error.startswith("cas-mismatch")
    assert c.invoke("add", "k", 1).type == "fail"  # exit 1: declared "no effect"
    assert c.invoke("write", "crash", 1).type == "info"  # exit 7: unknown
    t = time.monotonic()
    c.timeout_s = 0.5
    assert c.invoke("write", "hang", 1).type == "info"
    assert time.monotonic() - t < 4
    missing = cls({"read": ["/nonexistent/tool"]}, "h", 1, 1.0).invoke("read", "k", None)
    assert missing.type == "fail" and "cannot start" in missing.error


def test_command_rejects_shell_strings() -> None:
    problems = dict(
        get_protocol("command").check_options(
            {"read": "redis-cli GET {key}", "write": ["x", "{nope}"]}
        )
    )
    assert "a shell string" in problems["read"] and "argv list" in problems["read"]
    assert "unknown placeholder {nope}" in problems["write.1"]


def test_code_sets() -> None:
    assert parse_codes(["2xx", 404, "500-502"]) == set(range(200, 300)) | {404, 500, 501, 502}
    with pytest.raises(ValueError, match="4xx"):
        parse_codes(["abc"])
