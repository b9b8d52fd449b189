"""Closed doors: while a local run goes on, every socket that listens for TCP and
belongs to the run -- chaoskit itself (live metrics, the Locust master and its web
UI), the link server and its links, the nodes, the load workers -- is bound to
loopback. Found from /proc (net/tcp, net/tcp6 and each process's socket fds), not
from what the code says it binds."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from helpers import HOLD_FAULT, descendants, start_run, wait_for_event
from test_gameday_web import GameDayProc

ROOT = Path(__file__).resolve().parent.parent
LISTEN = "0A"


def _addr(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address of /proc/net/tcp{,6} (host byte order words) as an ip address."""
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return ipaddress.IPv6Address(words)


def listening(pid: int) -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of every TCP socket in LISTEN state in pid's namespace."""
    out = {}
    for name in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{name}") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                local, state, inode = parts[1], parts[3], int(parts[9])
                if state == LISTEN:
                    host, port = local.split(":")
                    out[inode] = (str(_addr(host)), int(port, 16))
    return out


def socket_inodes(pid: int) -> set[int]:
    found = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone meanwhile
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def is_loopback(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def listeners_of(root: int) -> dict[tuple[str, int], list[str]]:
    """(address, port) -> the processes (pid and command) of `root`'s tree listening there."""
    table = listening(root)
    owned: dict[tuple[str, int], list[str]] = {}
    for pid in {root, *descendants(root)}:
        try:
            comm = " ".join(Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:4])
        except OSError:
            continue
        for inode in socket_inodes(pid) & table.keys():
            owned.setdefault(table[inode], []).append(f"{pid} {comm}")
    return owned


def assert_closed(owned: dict[tuple[str, int], list[str]]) -> None:
    open_doors = {a: who for a, who in owned.items() if not is_loopback(a[0])}
    assert not open_doors, f"listening beyond loopback: {open_doors}"


def _by_program(owned: dict[tuple[str, int], list[str]]) -> dict[str, int]:
    """How many listening sockets each kind of process holds."""
    out: dict[str, int] = {}
    for who in owned.values():
        for w in who:
            words = w.split()
            prog = words[3] if len(words) > 3 and words[2] == "-m" else "chaoskit"
            out[prog] = out.get(prog, 0) + 1
    return out


@pytest.mark.parametrize("experiment", ["smoke", "generic-geokv"])
def test_every_listening_socket_of_a_run_is_on_loopback(experiment: str, tmp_path: Path) -> None:
    """A run with live metrics and a Locust master with a worker; generic-geokv's nodes
    listen where the generic system's `{listen.http}` template says (its default)."""
    results = tmp_path / "results"
    args = ("--metrics-port", "0", "--workers", "1", *HOLD_FAULT)
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(tmp_path / "registry"))
    proc = start_run(ROOT / "experiments" / f"{experiment}.yaml", results, *args, env=env)
    try:
        wait_for_event(proc, results / experiment / "latest", "apply", timeout=90)
        owned = listeners_of(proc.pid)
        assert_closed(owned)
        # the audit saw every part it is about
        progs = _by_program(owned)
        assert progs.get("chaoskit") == 1, owned  # live metrics
        assert progs.get("chaoskit.links", 0) >= 2, owned  # link API + the links
        assert progs.get("chaoskit.load.runner") == 1, owned  # Locust master (for its worker)
        nodes = "chaoskit.systems.geokv" if experiment == "smoke" else "-c"
        assert sum(n for p, n in progs.items() if p in (nodes, "chaoskit.systems.geokv")) >= 3
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_a_game_day_listens_on_loopback_by_default(tmp_path: Path) -> None:
    """`chaoskit gameday` without --host: the panel, Locust's web UI and the control
    API are all on loopback."""
    gd = GameDayProc(tmp_path)
    try:
        owned = listeners_of(gd.proc.pid)
        assert_closed(owned)
        port = int(gd.url.rsplit(":", 1)[1].split("/")[0])
        assert any(p == port for _, p in owned), (gd.url, owned)  # the web UI was audited
        assert len(owned) >= 6, owned  # + control API, link server, 3 nodes
    finally:
        gd.close()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_audit_finds_an_open_door(family: int) -> None:
    """A socket of this process listening on every interface is found and named, with
    its port; one on loopback passes."""
    anyhost, loop = ("0.0.0.0", "127.0.0.1") if family == socket.AF_INET else ("::", "::1")
    with socket.socket(family) as wide, socket.socket(family) as narrow:
        wide.bind((anyhost, 0))
        wide.listen()
        narrow.bind((loop, 0))
        narrow.listen()
        owned = listeners_of(os.getpid())
        assert (anyhost, wide.getsockname()[1]) in owned
        assert (loop, narrow.getsockname()[1]) in owned
        with pytest.raises(AssertionError, match=f"{wide.getsockname()[1]}"):
            assert_closed(owned)
        assert_closed({k: v for k, v in owned.items() if k[1] != wide.getsockname()[1]})
