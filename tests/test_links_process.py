"""The link server as a process: `python -m chaoskit.links` and `chaoskit links serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from helpers import free_port

from chaoskit.links.process import LinkServerProcess
from chaoskit.testing.links import EchoServer

VENV_BIN = Path(sys.executable).parent


def wait_file(path: Path, proc: subprocess.Popen, timeout: float = 20.0) -> int:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        assert time.monotonic() < end, "no port file"
        time.sleep(0.02)
    return int(path.read_text())


def test_module_entrypoint_writes_port_file_and_stops_cleanly(tmp_path):
    log = tmp_path / "links.log"
    with EchoServer() as echo:
        srv = LinkServerProcess(log_path=log).start()
        try:
            r = requests.post(
                srv.url + "/proxies",
                json={"name": "e", "upstream": echo.address, "listen": "127.0.0.1:0"},
                timeout=5,
            )
            host, port = r.json()["listen"].rsplit(":", 1)
            c = socket.create_connection((host, int(port)), timeout=5)
            c.sendall(b"hi")
            assert c.recv(2) == b"hi"
        finally:
            code = srv.stop()
        assert code == 0
        assert c.recv(2) == b""  # open connections closed on shutdown
        c.close()
        with socket.socket() as s:  # nothing listens on the proxy's port any more
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, int(port)))  # TIME_WAIT is fine with SO_REUSEADDR; a listener is not
    text = log.read_text()
    assert "link server API on" in text and "stopping" in text
    assert not any(tmp_path.glob("**/.*.tmp"))


def listening_hosts(port: int) -> set[str]:
    """Addresses with a TCP listener on `port`, from /proc/net/tcp{,6} (state 0A)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            if len(addr) == 8:  # IPv4, little-endian bytes
                hosts.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
            else:  # IPv6: four little-endian 32-bit words
                raw = b"".join(bytes.fromhex(addr[i : i + 8])[::-1] for i in range(0, 32, 8))
                hosts.add(socket.inet_ntop(socket.AF_INET6, raw))
    return hosts


def test_cli_serve_and_status(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "chaoskit"),
            "links",
            "serve",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--log-level",
            "WARNING",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        port = wait_file(port_file, proc)
        # No --host given: the API listens on loopback only, never on every interface.
        assert listening_hosts(port) == {"127.0.0.1"}
        url = f"http://127.0.0.1:{port}"
        out = subprocess.run(
            [str(VENV_BIN / "chaoskit"), "links", "status", "--api", url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0 and "no links" in out.stdout, out
        requests.post(
            url + "/proxies",
            json={"name": "s", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
            timeout=5,
        )
        requests.post(
            url + "/proxies/s/toxics",
            json={"name": "chaoskit_cut_upstream", "type": "timeout", "stream": "upstream"},
            timeout=5,
        )
        out = subprocess.run(
            [str(VENV_BIN / "chaoskit"), "links", "status", "--api", url, "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        state = json.loads(out.stdout)
        assert state["s"]["cut"] == "upstream" and state["s"]["mode"] == "blackhole"
        out = subprocess.run(
            [str(VENV_BIN / "chaoskit"), "links", "status", "--api", url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "s" in out.stdout and "cut=upstream" in out.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_status_without_a_server_says_how_to_find_one():
    port = free_port()  # nothing listens there
    r = subprocess.run(
        [str(VENV_BIN / "chaoskit"), "links", "status", "--api", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert "connection refused" in r.stderr and "--api" in r.stderr
    assert "HTTPConnectionPool" not in r.stderr, "no urllib3 internals"


def test_bad_arguments_exit_2_with_a_clear_message():
    r = subprocess.run(
        [sys.executable, "-m", "chaoskit.links", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "--port must be within 0..65535" in r.stderr
    r = subprocess.run(
        [str(VENV_BIN / "chaoskit"), "links", "serve", "--port", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "--port" in r.stderr


def test_api_port_in_use_exits_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "chaoskit.links", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr


def test_status_of_an_unreachable_server_is_a_clear_error():
    r = subprocess.run(
        [str(VENV_BIN / "chaoskit"), "links", "status", "--api", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1 and "unreachable" in r.stderr


def test_server_imports_only_stdlib_and_aiohttp():
    """The link container has python3 + python3-aiohttp only."""
    code = (
        "import sys, chaoskit.links.server, chaoskit.links.__main__, chaoskit.links.process;"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'click','requests','yaml','docker','locust','prometheus_client','rich','matplotlib','toxiproxy','urllib3','gevent'});"
        "print(','.join(bad))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env={**os.environ}
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
