"""geokv single nodes: every operation in every mode, malformed input, config errors,
and the client's honest outcome classification. Real processes, real sockets."""

from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chaoskit.systems.geokv.client import GeoKVClient
from chaoskit.testing.geokv import GeoKVCluster
from chaoskit.topology.model import Endpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["quorum", "lww", "unit"])
def node(request, tmp_path):
    with GeoKVCluster({"r1": 1}, tmp_path, {"mode": request.param}) as c:
        yield c


def _raw(ep: Endpoint, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection((ep.host, ep.port), timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_operations(node):
    c = node.client("r1")
    assert c.invoke("read", "k", None).value is None
    assert c.invoke("write", "k", 1).type == "ok"
    assert c.invoke("read", "k", None).value == 1
    assert c.invoke("cas", "k", [1, 2]).type == "ok"
    miss = c.invoke("cas", "k", [1, 3])
    assert miss.type == "fail" and "mismatch" in miss.error
    assert c.invoke("read", "k", None).value == 2
    for x in (5, 6, 5):
        assert c.invoke("add", "s", x).type == "ok"
    assert sorted(c.invoke("read-all", "s", None).value) == [5, 6]
    bad = c.invoke("nope", "k", None)
    assert bad.type == "fail" and "valid" in bad.error
    c.close()


def test_plain_http_clients_without_geokv_headers(node):
    """The X-Geokv-* headers are optional: curl or any other HTTP client works (a
    missing budget header once made every /op answer 500)."""
    ep = node.plan.outside["r1"]["r1-1"]["http"]
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=5)

    def op(body: dict, headers: dict | None = None) -> tuple[int, dict]:
        conn.request("POST", "/op", json.dumps(body), headers or {})
        r = conn.getresponse()
        return r.status, json.loads(r.read())

    assert op({"f": "write", "key": "p", "value": 1}) == (200, {"ok": True, "value": 1})
    assert op({"f": "read", "key": "p"}) == (200, {"ok": True, "value": 1})
    assert op({"f": "cas", "key": "p", "value": [1, 2]})[0] == 200
    status, body = op({"f": "cas", "key": "p", "value": [1, 3]})
    assert status == 409 and body["definite"] is True
    assert op({"f": "add", "key": "ps", "value": 4})[0] == 200
    assert op({"f": "read-all", "key": "ps"}) == (200, {"ok": True, "value": [4]})
    # A malformed budget or hop count is ignored, not a 500.
    junk = {"X-Geokv-Budget-Ms": "soon", "X-Geokv-Hops": "many"}
    assert op({"f": "read", "key": "p"}, junk) == (200, {"ok": True, "value": 2})
    conn.close()


def test_malformed_requests_never_crash_the_node(node):
    ep = node.plan.outside["r1"]["r1-1"]["http"]
    answers = [
        _raw(ep, b"\x00\xff\xfe garbage \r\n\r\n"),
        _raw(ep, b"POST /op HTTP/1.1\r\nContent-Length: 5\r\n\r\n{bad}"),
        _raw(ep, b"POST /op HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
        _raw(ep, b"POST /op HTTP/1.1\r\nContent-Length: -4\r\n\r\n"),
        _raw(ep, b"POST /op HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]"),
        _raw(ep, b'POST /op HTTP/1.1\r\nContent-Length: 25\r\n\r\n{"f":"cas","key":"k","v":'),
        _raw(ep, b"POST /op HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        _raw(ep, b"GET /nowhere HTTP/1.1\r\n\r\n"),
        _raw(ep, b"POST /op HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n"),
    ]
    statuses = [a.split(b" ", 2)[1] for a in answers]
    assert statuses == [b"400", b"400", b"413", b"400", b"400", b"400", b"411", b"404", b"431"]
    # A request whose body never fully arrives must not wedge anything either.
    s = socket.create_connection((ep.host, ep.port))
    s.sendall(b"POST /op HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    # Typed-but-wrong JSON fields answer 400 with the field named.
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=5)
    for body, word in [
        ({"f": "write", "key": 7, "value": 1}, "'key'"),
        ({"f": "cas", "key": "k", "value": 3}, "cas"),
        ({"f": "add", "key": "s", "value": [1]}, "scalar"),
    ]:
        conn.request("POST", "/op", json.dumps(body))
        r = conn.getresponse()
        assert r.status == 400 and word in json.loads(r.read())["error"]
    s.close()
    # Still serving, on a kept-alive connection.
    c = node.client("r1")
    assert c.invoke("write", "alive", 1).type == "ok"
    assert node.procs["r1-1"].poll() is None


def test_health_and_members_admin(tmp_path):
    with GeoKVCluster({"r1": 1}, tmp_path) as c:
        ep = c.plan.outside["r1"]["r1-1"]["http"]
        conn = http.client.HTTPConnection(ep.host, ep.port, timeout=5)
        conn.request("GET", "/health")
        h = json.loads(conn.getresponse().read())
        assert h["id"] == "r1-1" and h["mode"] == "quorum" and h["member"] is True
        conn.request("POST", "/admin/members", json.dumps({"members": ["ghost"]}))
        r = conn.getresponse()
        assert r.status == 400 and "ghost" in json.loads(r.read())["error"]


def _run_node(
    *args: str, python: str = sys.executable, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, *flags, "-m", "chaoskit.systems.geokv", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["--region", "r1", "--listen", "127.0.0.1:0"], ["'id'", "required"]),
        (["--id", "a", "--region", "r1", "--listen", "nowhere"], ["listen", "host:port"]),
        (
            ["--id", "a", "--region", "r1", "--listen", "127.0.0.1:0", "--members", "a,b"],
            ["'b'", "peers"],
        ),
        (
            ["--id", "a", "--region", "r1", "--listen", "127.0.0.1:0", "--peer", "b=r2"],
            ["--peer", "name=region@host:port"],
        ),
        (
            ["--id", "a", "--region", "r1", "--listen", "127.0.0.1:0", "--home", "k=mars"],
            ["homes.k", "mars", "r1"],
        ),
    ],
)
def test_config_errors_exit_2_naming_the_field(args, words):
    p = _run_node(*args)
    assert p.returncode == 2, p.stderr
    for w in words:
        assert w in p.stderr


def test_config_file_error_names_file_and_line(tmp_path):
    cfg = tmp_path / "node.json"
    cfg.write_text('{\n  "id": "a",\n  "mode": quorum\n}\n')
    p = _run_node("--config", str(cfg))
    assert p.returncode == 2 and f"{cfg}:3:" in p.stderr
    cfg.write_text(
        json.dumps({"id": "a", "region": "r1", "listen": "127.0.0.1:0", "mode": "paxos"})
    )
    p = _run_node("--config", str(cfg))
    assert p.returncode == 2 and "'mode'" in p.stderr and "lww" in p.stderr


def test_node_runs_on_bare_stdlib_python(tmp_path):
    """`-S -I`-like start: no site-packages at all, so any non-stdlib import fails."""
    cfg = tmp_path / "node.json"
    cfg.write_text(json.dumps({"id": "a", "region": "r1", "listen": "127.0.0.1:0", "mode": "unit"}))
    proc = subprocess.Popen(
        [sys.executable, "-S", "-m", "chaoskit.systems.geokv", "--config", str(cfg)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, (
            line + proc.stdout.read() if proc.poll() is not None else line
        )
        port = int(line.split("listening on 127.0.0.1:")[1].split()[0])
        c = GeoKVClient([("a", Endpoint("127.0.0.1", port))], 5)
        assert c.invoke("write", "k", "v").type == "ok"
        assert c.invoke("read", "k", None).value == "v"
        c.close()
        out = subprocess.run(
            [
                sys.executable,
                "-S",
                "-c",
                "import sys, chaoskit.systems.geokv.__main__, chaoskit.systems.geokv.quorum, chaoskit.systems.geokv.lww, chaoskit.systems.geokv.unit; "
                "print(sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] not in ('chaoskit', '__main__')))",
            ],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert out.stdout.strip() == "[]", out.stdout + out.stderr
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
    assert proc.returncode == 0  # SIGTERM is a clean stop


# ---------------- client classification ----------------


def _silent_server(accept_only: bool):
    """A listener that accepts and reads but never answers (a blackholed node)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns = []
    stop = threading.Event()

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                conns.append(c)
            except OSError:
                pass

    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()

    return srv.getsockname()[1], close


def test_client_classifies_timeouts_and_refusals_honestly():
    port, close = _silent_server(True)
    try:
        c = GeoKVClient([("mute", Endpoint("127.0.0.1", port))], timeout_s=0.3)
        t0 = time.monotonic()
        w = c.invoke("write", "k", 1)
        assert w.type == "info" and "timed out" in w.error  # it may have applied
        assert time.monotonic() - t0 < 3
        assert c.invoke("read", "k", None).type == "fail"  # a read has no effect
        assert c.invoke("cas", "k", [1, 2]).type == "info"
        c.close()
    finally:
        close()
    # Nothing listens: the request was never sent, so the write certainly failed.
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    dead_port = free.getsockname()[1]
    free.close()
    c = GeoKVClient([("dead", Endpoint("127.0.0.1", dead_port))], timeout_s=1)
    out = c.invoke("write", "k", 1)
    assert out.type == "fail" and "dead" in out.error


def test_client_fails_over_on_refusal_and_reconnects(tmp_path):
    with GeoKVCluster({"r1": 2}, tmp_path, {"mode": "lww"}) as cl:
        c = cl.client("r1")
        first = c.node
        assert c.invoke("write", "k", 1).type == "ok"
        cl.kill(first)
        # The kept-alive connection died with the node: a write on it must not be
        # reported as certainly failed unless it was never sent; a read may fail.
        out = c.invoke("read", "k", None)
        assert out.type in ("ok", "fail")
        out = c.invoke("write", "k", 2)
        assert out.type == "ok" and c.node != first  # refused -> next node of the region
        c.close()


def test_node_timeouts_run_on_a_clock_libfaketime_cannot_skew(tmp_path, need_faketime):
    """libfaketime moves CLOCK_MONOTONIC with the wall clock; geokv's timeouts and
    failure detection must not move with a skew, only its wall-clock stamps."""
    from chaoskit.testing.geokv import FAKETIME_LIBS

    offset = tmp_path / "offset"
    offset.write_text("-30\n")
    script = (
        "import time; from chaoskit.systems.geokv.clock import monotonic; "
        "print(monotonic(), time.monotonic(), time.time())"
    )
    env = {
        "PYTHONPATH": str(ROOT),
        "LD_PRELOAD": str(FAKETIME_LIBS[0]),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",
    }
    before = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    after = time.monotonic()
    raw, faked_mono, wall = map(float, out.stdout.split())
    assert before - 1 <= raw <= after + 1  # the real monotonic clock
    assert abs(faked_mono - raw) > 20  # what time.monotonic() would have said
    assert abs(wall - (time.time() - 30)) < 10  # the wall clock is skewed, as intended


def test_client_works_in_a_gevent_patched_process(tmp_path):
    """The load process runs clients in Locust (gevent monkey-patched): concurrent
    greenlets, each with its own client, and a blackholed node still times out."""
    with GeoKVCluster({"r1": 1}, tmp_path, {"mode": "lww"}) as c:
        ep = c.plan.outside["r1"]["r1-1"]["http"]
        port, close = _silent_server(True)
        script = f"""
from gevent import monkey; monkey.patch_all()
import gevent
from chaoskit.systems.geokv.client import GeoKVClient
from chaoskit.topology.model import Endpoint
def user(i):
    c = GeoKVClient([("r1-1", Endpoint("{ep.host}", {ep.port}))], 5)
    outs = [c.invoke("add", "s", i * 100 + n).type for n in range(20)]
    c.close()
    return outs
jobs = [gevent.spawn(user, i) for i in range(10)]
gevent.joinall(jobs, timeout=30)
oks = sum(o == "ok" for j in jobs for o in j.value)
mute = GeoKVClient([("mute", Endpoint("127.0.0.1", {port}))], 0.3)
print(oks, mute.invoke("write", "k", 1).type)
"""
        try:
            out = subprocess.run(
                [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
            )
        finally:
            close()
        assert out.stdout.split() == ["200", "info"], out.stdout + out.stderr
        assert len(c.node_client("r1-1").invoke("read-all", "s", None).value) == 200


def test_random_bytes_and_bad_peer_messages_leave_the_node_serving(node):
    ep = node.plan.outside["r1"]["r1-1"]["http"]
    c = node.client("r1")
    assert c.invoke("write", "k", "before").type == "ok"
    rng = random.Random(7)
    for _ in range(60):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        prefix = rng.choice(
            [
                b"",
                b"POST /op HTTP/1.1\r\n",
                b"POST /internal/accept HTTP/1.1\r\nContent-Length: 9\r\n\r\n",
            ]
        )
        _raw(ep, prefix + junk, timeout=10)
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=5)
    bad_internal = [
        ("/internal/prepare", {"key": "k", "ballot": "high"}),
        ("/internal/accept", {"key": "k", "ballot": [1, "x"], "value": {"$set": 5}}),
        ("/internal/lww/apply", {"entries": {"r:k": 5, "x": [1]}}),
        ("/internal/unit/apply", {"entries": {"k": ["one", "n", 1]}}),
        ("/admin/install", {"states": [{"acc": {"k": 1}, "data": {"k": 2}}]}),
        ("/admin/install", {"states": "all"}),
    ]
    for path, body in bad_internal:
        conn.request("POST", path, json.dumps(body))
        r = conn.getresponse()
        r.read()
        assert r.status in (400, 404), (path, r.status)  # refused, never a 500 or a crash
    # The state was not poisoned: the value is still readable and writable.
    assert c.invoke("read", "k", None).value == "before"
    assert c.invoke("cas", "k", ["before", "after"]).type == "ok"
    assert node.procs["r1-1"].poll() is None
