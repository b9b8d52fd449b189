"""Throwaway Docker engines on this machine, for tests and benchmarks of several engines.

`ScratchEngine().start()` runs a `dockerd` of its own: its own socket, data root,
exec root and pid file under a fresh directory in /tmp, its default bridge (-b) a
Linux bridge created for it with a /24 from 10.198.0.0/16 that no interface or
route of this machine uses. It runs without iptables (`--iptables=false`): the
machine's own engine owns those rules, and two daemons must not fight over them;
its published ports are served by Docker's userland proxy, which containers of
other engines on this machine reach at their own network's gateway. What its
iptables rules would have done that still matters here -- let containers on one
of its networks talk to each other, since the machine's engine sets the FORWARD
policy to DROP -- the engine does itself: it follows its daemon's network events
and puts one `-i br-ID -o br-ID -j ACCEPT` rule per network of ITS daemon into
DOCKER-USER (FORWARD without the machine's engine), removed when it stops.

`stop()` ends the daemon (SIGTERM, SIGKILL after a deadline; its containers die
with it), unmounts what it left mounted, removes its directory and its bridge.
Needs root, `dockerd` and `ip` (iproute2).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RANGE = ipaddress.ip_network("10.198.0.0/16")


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = []
    for cmd in (["ip", "-4", "-o", "addr"], ["ip", "-4", "route"]):
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        for word in text.split():
            with contextlib.suppress(ValueError):
                if "/" in word:
                    out.append(ipaddress.ip_network(word, strict=False))
    return out


def free_subnet(rng: random.Random | None = None) -> ipaddress.IPv4Network:
    """A /24 of RANGE that no address or route of this machine overlaps."""
    rng = rng or random.Random()
    used = _used_networks()
    candidates = list(RANGE.subnets(new_prefix=24))
    rng.shuffle(candidates)
    for net in candidates:
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError(f"no free /24 left in {RANGE}")


class ScratchEngine:
    def __init__(self, start_timeout_s: float = 60.0) -> None:
        self.start_timeout_s = start_timeout_s
        self.dir = Path(tempfile.mkdtemp(prefix="ckd-", dir="/tmp"))
        self.bridge = f"ckb{os.urandom(3).hex()}"
        self.subnet = free_subnet()
        self.url = f"unix://{self.dir}/docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self._bridge_made = False
        self._rules: list[list[str]] = []  # iptables rule specs this engine inserted
        self._rules_lock = threading.Lock()
        self._following = threading.Event()
        self._chain = "DOCKER-USER" if _chain_exists("DOCKER-USER") else "FORWARD"

    def __enter__(self) -> ScratchEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ScratchEngine:
        try:
            gateway = f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}"
            _ip("link", "add", self.bridge, "type", "bridge")
            self._bridge_made = True
            _ip("addr", "add", gateway, "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            self._spawn()
            self._wait_ready()
            threading.Thread(target=self._follow_networks, daemon=True).start()
            if not self._following.wait(10):
                raise RuntimeError(f"dockerd at {self.url} does not stream its events")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        log = open(self.dir / "dockerd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "-H",
                self.url,
                "--data-root",
                str(self.dir / "data"),
                "--exec-root",
                str(self.dir / "exec"),
                "--pidfile",
                str(self.dir / "dockerd.pid"),
                "-b",
                self.bridge,
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--shutdown-timeout",
                "2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def _terminate(self, deadline_s: float) -> None:
        """SIGTERM the daemon's process group; SIGKILL it after `deadline_s`."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(deadline_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, down_s: float = 0.0, deadline_s: float = 20.0) -> float:
        """Restart the daemon as an operator would: SIGTERM (its containers stop with
        it), wait until it is gone, `down_s` more, start it again with the same flags
        and wait until it answers. Returns the seconds it did not answer."""
        assert self.proc is not None, "the engine is not running"
        t = time.monotonic()
        self._terminate(deadline_s)
        time.sleep(down_s)
        self._spawn()
        self._wait_ready()
        return time.monotonic() - t

    def _wait_ready(self) -> None:
        import docker

        end = time.monotonic() + self.start_timeout_s
        last: Exception | None = None
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                docker.DockerClient(base_url=self.url, timeout=5).ping()
                return
            except Exception as e:
                last = e
                time.sleep(0.2)
        tail = (self.dir / "dockerd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"dockerd at {self.url} did not start ({last}); its log:\n{tail}")

    def _follow_networks(self) -> None:
        """Accept forwarding inside each bridge network this daemon creates."""
        with contextlib.suppress(Exception):
            client = self.client()
            # Subscribed before listing: a network created in between is in the stream.
            stream = client.events(decode=True, filters={"type": "network", "event": "create"})
            self._following.set()
            for n in client.networks.list():
                self._accept_inside(n.id)
            for ev in stream:
                if self.proc is None:
                    return
                self._accept_inside(ev["Actor"]["ID"])

    def _accept_inside(self, network_id: str) -> None:
        bridge = f"br-{network_id[:12]}"
        rule = [self._chain, "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
        with self._rules_lock:
            if self.proc is None or rule in self._rules:
                return
            subprocess.run(["iptables", "-I", *rule], capture_output=True, check=True)
            self._rules.append(rule)

    def wait_network(self, network_id: str, deadline_s: float = 5.0) -> bool:
        """True once the forwarding rule of a network of this daemon is in place."""
        end = time.monotonic() + deadline_s
        bridge = f"br-{network_id[:12]}"
        while time.monotonic() < end:
            with self._rules_lock:
                if any(r[2] == bridge for r in self._rules):
                    return True
            time.sleep(0.05)
        return False

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.url, timeout=120)

    def load_image(self, tag: str, source: Any = None) -> None:
        """Copy an image from another engine (default: the default engine), like
        `docker save TAG | docker -H URL load`."""
        import docker

        source = source or docker.from_env(timeout=120)
        self.client().images.load(source.images.get(tag).save(named=True))

    def stop(self, deadline_s: float = 20.0) -> None:
        """Stop the daemon and remove everything it had -- containers, networks and the
        Linux bridges of those networks (dockerd keeps them across its own restarts),
        its directory, its default bridge; safe to call twice."""
        bridges = self._empty() if self.proc is not None and self.proc.poll() is None else []
        if self.proc is not None and self.proc.poll() is None:
            self._terminate(deadline_s)
        self.proc = None
        with self._rules_lock:
            for rule in self._rules:
                subprocess.run(["iptables", "-D", *rule], capture_output=True)
            self._rules.clear()
        for br in bridges:
            subprocess.run(["ip", "link", "del", br], capture_output=True)
        self._unmount_below(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._bridge_made:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            self._bridge_made = False

    def _empty(self) -> list[str]:
        """Remove every container and network; returns the bridges of those networks."""
        bridges: list[str] = []
        with contextlib.suppress(Exception):
            client = self.client()
            for c in client.containers.list(all=True):
                with contextlib.suppress(Exception):
                    c.remove(force=True, v=True)
            for n in client.networks.list():
                if n.name in ("bridge", "host", "none"):
                    continue
                bridges.append(f"br-{n.id[:12]}")
                with contextlib.suppress(Exception):
                    n.remove()
        return bridges

    @staticmethod
    def _unmount_below(root: Path) -> None:
        prefix = str(root) + "/"
        with open("/proc/self/mounts", encoding="utf-8") as f:
            points = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


def _chain_exists(chain: str) -> bool:
    return subprocess.run(["iptables", "-S", chain], capture_output=True).returncode == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)
