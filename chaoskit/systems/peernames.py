"""Peer names that route through the links, for systems whose nodes advertise addresses.

Replicated databases tell each other where to connect: a Redis replica announces
itself to Sentinel, a Patroni member publishes its connection address in the DCS,
an etcd member its peer URL. Each is ONE address that every other node then dials,
so it must lead through the dialler's own region's link. The docker backend gives
that with DNS: a node's name resolves, inside every other region, to that region's
link container. On the local backend every process shares one address space, so
this module recreates it per node:

- every node advertises its node name (with its real port);
- each node runs under a small runner (``python -m chaoskit.systems.peernames``)
  that gives its processes their own hosts table through nss_wrapper (Debian's
  ``libnss-wrapper``, LD_PRELOAD, ``NSS_WRAPPER_HOSTS``): a peer in the same region
  resolves to its real address, a peer in another region to a loopback address of
  its own (``127.x.y.z``, one per (node, peer) pair);
- Go programs (etcd) are told to resolve through libc (``GODEBUG=netdns=cgo``);
- on that address and the peer's real port the runner relays bytes to the link
  the address plan gives for (this node's region -> that peer): a cut or slowed
  link cuts or slows exactly the traffic it would between real data centres.

The runner also writes a node's configuration files (only when absent: a system
that rewrites its own configuration, as Sentinel does, keeps it across restarts),
may drop root for its commands (PostgreSQL refuses to run as root), and runs its
commands in its own process group, so stopping the node stops all of them.

Some programs leave that group on purpose: Patroni starts PostgreSQL in a session of
its own, so that restarting Patroni does not stop the database. A node that is
killed must lose its database too, so the runner starts a guard in another session:
when the runner is gone (killed or stopped), the guard kills every process still
working in the node's data directory (where every command of the node runs), then
exits.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.systems.base import SystemContext

NSS_WRAPPER_GLOB = "/usr/lib/*/libnss_wrapper.so"


def find_nss_wrapper() -> str | None:
    libs = sorted(glob.glob(NSS_WRAPPER_GLOB))
    return libs[0] if libs else None


def alias_ip(viewer_index: int, peer_index: int) -> str:
    """The loopback address at which node `viewer_index` reaches node `peer_index`."""
    return f"127.{100 + viewer_index // 250}.{viewer_index % 250 + 1}.{peer_index % 250 + 1}"


@dataclass
class NodeRun:
    """What the runner does for one node (JSON in its argv)."""

    commands: list[list[str]]
    hosts: dict[str, str] = field(default_factory=dict)  # name -> address (empty: system DNS)
    relays: list[tuple[str, int, str, int]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # path -> text, written when absent
    user: str | None = None  # run the commands as this user (files and data dir chowned)
    data_dir: str = "{data_dir}"

    def argv(self) -> list[str]:
        return ["python3", "-m", "chaoskit.systems.peernames", json.dumps(self.__dict__)]


def peer_hosts(
    ctx: SystemContext, node: str, ports: tuple[str, ...]
) -> tuple[dict[str, str], list[tuple[str, int, str, int]]]:
    """(hosts table, relays) for `node`: empty on backends whose node names already
    resolve through the links (docker)."""
    if ctx.backend.name != "local":
        return {}, []
    me = ctx.topology.node(node)
    hosts: dict[str, str] = {}
    relays: list[tuple[str, int, str, int]] = []
    for peer in ctx.topology.nodes:
        if peer.region == me.region:
            hosts[peer.name] = ctx.plan.node_bind[peer.name][ports[0]].host
            continue
        ip = alias_ip(me.index, peer.index)
        hosts[peer.name] = ip
        for port in ports:
            real = ctx.plan.node_bind[peer.name][port]
            via = ctx.plan.inside[node][peer.name][port]
            relays.append((ip, real.port, via.host, via.port))
    return hosts, relays


def problems(backend: str) -> list[str]:
    """Why nodes cannot run under the runner on `backend` (empty = fine)."""
    if backend == "local" and find_nss_wrapper() is None:
        return [
            f"backend: local needs nss_wrapper ({NSS_WRAPPER_GLOB}) so that each node "
            "resolves its peers through its region's links: apt-get install libnss-wrapper"
        ]
    return []


# ---------------------------------------------------------------- the runner --------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def _relay(host: str, port: int, up_host: str, up_port: int) -> asyncio.AbstractServer:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(up_host, up_port)
        except OSError:
            w.close()
            return
        await asyncio.gather(_pipe(r, uw), _pipe(ur, w))

    return await asyncio.start_server(handle, host, port, reuse_address=True)


def _start_relays(relays: list[tuple[str, int, str, int]]) -> None:
    if not relays:
        return
    ready = threading.Event()
    errors: list[BaseException] = []

    async def main() -> None:
        try:
            for r in relays:
                await _relay(*r)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    ready.wait(30)
    if errors:
        raise SystemExit(f"peernames: cannot listen for a peer relay: {errors[0]}")


def _demote(user: str | None) -> Any:
    if user is None:
        return None
    pw = pwd.getpwnam(user)

    def run() -> None:
        os.setgid(pw.pw_gid)
        os.initgroups(user, pw.pw_gid)
        os.setuid(pw.pw_uid)

    return run


def unreachable_parent(path: Path, uid: int) -> Path | None:
    """The first directory above `path` that user `uid` (not root) cannot enter."""
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return parent
    return None


def _processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is `directory` or below it."""
    root = str(directory.resolve())
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{d}/cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/"):
            out.append(int(d))
    return out


def guard(data_dir: Path) -> int:
    """Wait until stdin (a pipe only the runner holds) reaches end of file, i.e. the
    runner is gone, then kill every process still working in the node's data
    directory (every command of a node runs there; PostgreSQL in a subdirectory)."""
    while os.read(sys.stdin.fileno(), 4096):
        pass
    for pid in _processes_in(data_dir):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return 0


def _start_guard(data_dir: Path) -> None:
    r, w = os.pipe()  # w stays with the runner alone (not inheritable)
    subprocess.Popen(
        [sys.executable, "-m", "chaoskit.systems.peernames", "--guard", str(data_dir)],
        stdin=r,
        stdout=subprocess.DEVNULL,
        cwd="/",
        start_new_session=True,  # outside the node's group: it outlives a kill of the node
    )
    os.close(r)


def run(cfg: dict[str, Any]) -> int:
    data_dir = Path(cfg["data_dir"])
    user = cfg.get("user")
    owner = pwd.getpwnam(user) if user else None
    if owner is not None:
        blocked = unreachable_parent(data_dir, owner.pw_uid)
        if blocked is not None:
            print(
                f"peernames: this node runs as {user}, who cannot enter {blocked} "
                f"(mode {blocked.stat().st_mode & 0o777:o}): put the run's results in a "
                "directory others may enter (e.g. --results /tmp/results)"
            )
            return 3
        os.chown(data_dir, owner.pw_uid, owner.pw_gid)
    for path, text in cfg.get("files", {}).items():
        p = Path(path)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            if owner is not None:
                os.chown(p, owner.pw_uid, owner.pw_gid)
    env = dict(os.environ)
    if cfg.get("hosts"):
        lib = find_nss_wrapper()
        if lib is None:
            print(f"peernames: {NSS_WRAPPER_GLOB} is missing: apt-get install libnss-wrapper")
            return 3
        hosts_file = data_dir / ".peer-hosts"
        hosts_file.write_text("".join(f"{ip} {name}\n" for name, ip in cfg["hosts"].items()))
        env["LD_PRELOAD"] = ":".join(x for x in (env.get("LD_PRELOAD", ""), lib) if x)
        env["NSS_WRAPPER_HOSTS"] = str(hosts_file)
        # Go programs (etcd) resolve names themselves unless told to ask libc.
        env["GODEBUG"] = ",".join(x for x in (env.get("GODEBUG", ""), "netdns=cgo") if x)
    _start_relays([tuple(r) for r in cfg.get("relays", [])])
    _start_guard(data_dir)
    if owner is not None:
        env.update(HOME=str(data_dir), USER=user, LOGNAME=user)
    children = [
        subprocess.Popen(cmd, env=env, cwd=str(data_dir), preexec_fn=_demote(user))
        for cmd in cfg["commands"]
    ]
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while all(c.poll() is None for c in children):
        time.sleep(0.2)
    first = next(i for i, c in enumerate(children) if c.poll() is not None)
    # One command ended: the node is down as a whole.
    for c in children:
        if c.poll() is None:
            c.terminate()
    end = time.monotonic() + 10
    for c in children:
        try:
            c.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.kill()
    codes = [c.returncode for c in children]
    if not stopping.is_set():
        print(
            f"peernames: {cfg['commands'][first][0]} exited first (code {codes[first]}); "
            f"stopping the node (codes of all its commands: {codes})"
        )
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    if sys.argv[1] == "--guard":
        sys.exit(guard(Path(sys.argv[2])))
    sys.exit(run(json.loads(sys.argv[1])))
