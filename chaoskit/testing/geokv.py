"""A local geokv cluster of real processes for tests and benchmarks.

Not used by the node (which stays stdlib only) nor by the harness: tests and
benchmarks start clusters with it, optionally behind chaoskit's link server, and
record Jepsen-shaped histories for the checker.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.systems.base import SystemContext
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.systems.geokv.client import GeoKVClient
from chaoskit.topology.model import AddressPlan, Topology
from chaoskit.topology.plan import build_topology, local_plan

FAKETIME_LIBS = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))


def direct_plan(topology: Topology, ports: tuple[str, ...] = ("http",)) -> AddressPlan:
    """A local plan whose every view goes straight to the nodes (no links, no latency)."""
    plan = local_plan(topology, ports)
    direct = {n.name: dict(plan.node_bind[n.name]) for n in topology.nodes}
    plan.inside = {n.name: {k: dict(v) for k, v in direct.items()} for n in topology.nodes}
    plan.outside = {r: {k: dict(v) for k, v in direct.items()} for r in topology.region_names}
    plan.links = {}
    return plan


@dataclass
class GeoKVCluster:
    """Start with `with GeoKVCluster(...) as c:`; every process is stopped on exit."""

    regions: dict[str, int]  # region -> node count (location = region name)
    workdir: Path
    options: dict[str, Any] = field(default_factory=dict)
    plan: AddressPlan | None = None  # default: direct_plan (no links)
    clock_offsets: dict[str, float] = field(default_factory=dict)  # node -> seconds (libfaketime)
    with_links: bool = False  # route cross-region traffic through chaoskit's link server
    link_latency: bool = True  # with_links: add the geo model's latency to every link
    links: Links | None = field(default=None, init=False)
    topology: Topology = field(init=False)
    adapter: GeoKVAdapter = field(init=False)
    ctx: SystemContext = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        # Real city names keep the geo model happy; links get latency only if asked.
        locs = {"r1": "frankfurt", "r2": "london", "r3": "paris"}
        self.topology = build_topology(
            {
                r: {"location": locs.get(r, r), "zones": {f"{r}-dc1": n}}
                for r, n in self.regions.items()
            }
        )
        self.adapter = GeoKVAdapter(self.options)
        if self.plan is None:
            if self.with_links:
                self.plan = local_plan(self.topology, self.adapter.ports)
            else:
                self.plan = direct_plan(self.topology, self.adapter.ports)
        self.ctx = SystemContext(
            topology=self.topology,
            plan=self.plan,
            backend=None,  # type: ignore[arg-type]  # the adapter never touches it
            members=[n.name for n in self.topology.nodes],
        )

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.topology.nodes]

    def nodes_in(self, region: str) -> list[str]:
        return [n.name for n in self.topology.nodes_in(region)]

    def start(self, node: str | None = None) -> None:
        for n in [node] if node else self.nodes:
            spec = self.adapter.node_spec(n, self.ctx)
            data_dir = self.workdir / f"{n}-data"  # kept across restarts, as a backend does
            data_dir.mkdir(exist_ok=True)
            argv = [a.replace("{data_dir}", str(data_dir)) for a in spec.argv]
            argv[0] = sys.executable if argv[0] == "python3" else argv[0]
            env = dict(os.environ)
            env.update({k: v.replace("{data_dir}", str(data_dir)) for k, v in spec.env.items()})
            env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
            if n in self.clock_offsets:
                if not FAKETIME_LIBS:
                    raise RuntimeError("libfaketime is not installed")
                ts = self.workdir / f"{n}.faketime"
                ts.write_text(f"{self.clock_offsets[n]:+.3f}\n")
                env.update(
                    LD_PRELOAD=str(FAKETIME_LIBS[0]),
                    FAKETIME_TIMESTAMP_FILE=str(ts),
                    FAKETIME_NO_CACHE="1",
                )
            log = open(self.workdir / f"{n}.log", "ab")
            try:
                self.procs[n] = subprocess.Popen(
                    argv, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            finally:
                log.close()

    def wait_ready(self, deadline_s: float = 20.0) -> None:
        self.adapter.wait_ready(self.ctx, [n for n in self.nodes if n in self.procs], deadline_s)

    def kill(self, node: str) -> None:
        p = self.procs.pop(node, None)
        if p is not None:
            p.kill()
            p.wait(5)

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for n, p in list(self.procs.items()):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            del self.procs[n]

    def __enter__(self) -> GeoKVCluster:
        try:
            if self.with_links:
                assert self.plan is not None
                self.links = Links(self.plan, self.link_latency)
            self.start()
            self.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            if self.links is not None:
                self.links.close()
                self.links = None

    def client(self, region: str, timeout_s: float = 5.0) -> GeoKVClient:
        assert self.plan is not None
        c = self.adapter.client(self.plan.outside[region], region, timeout_s)
        assert isinstance(c, GeoKVClient)
        return c

    def node_client(self, node: str, timeout_s: float = 5.0) -> GeoKVClient:
        """A client pinned to one node (as the node's own region reaches it)."""
        assert self.plan is not None
        region = self.topology.node(node).region
        return GeoKVClient([(node, self.plan.outside[region][node]["http"])], timeout_s)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.workdir.glob("*.log"))
        )


class HistoryRecorder:
    """Records Jepsen-shaped history records (docs/contracts.md) from many threads."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._next_process = 0
        self._t0 = time.monotonic_ns()

    def now(self) -> int:
        """Nanoseconds on this recorder's time base (for marking faults)."""
        return time.monotonic_ns() - self._t0

    def new_process(self) -> int:
        with self._lock:
            self._next_process += 1
            return self._next_process - 1

    def _add(self, rec: dict[str, Any]) -> None:
        with self._lock:
            rec["index"] = len(self.records)
            rec["time"] = time.monotonic_ns() - self._t0
            self.records.append(rec)

    def run(
        self, process: int, client: GeoKVClient, f: str, key: str, value: Any, region: str
    ) -> tuple[int, Any]:
        """Invoke and record one operation; returns (process to use next, outcome)."""
        base = {"process": process, "f": f, "key": key, "region": region, "node": client.node}
        self._add({**base, "type": "invoke", "value": value})
        out = client.invoke(f, key, value)
        done = {
            **base,
            "type": out.type,
            "value": out.value if f in ("read", "read-all") else value,
        }
        if out.error:
            done["error"] = out.error
        self._add(done)
        # Jepsen's rule: after an info the old operation may still be in flight.
        return (self.new_process() if out.type == "info" else process), out

    def write(self, path: Path) -> Path:
        with self._lock:
            text = "".join(json.dumps(r) + "\n" for r in self.records)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        return path

    def count(self, type_: str, f: str | None = None) -> int:
        return sum(1 for r in self.records if r["type"] == type_ and (f is None or r["f"] == f))


OpGen = Callable[[random.Random, str], tuple[str, str, Any]]  # (rng, region) -> (f, key, value)


def run_load(
    cluster: GeoKVCluster,
    recorder: HistoryRecorder,
    users: dict[str, int],
    gen: OpGen,
    duration_s: float,
    timeout_s: float = 3.0,
    seed: int = 1,
    pause_s: float = 0.0,
) -> None:
    """`users[region]` threads per region, each one client, invoking gen() until the time is up."""
    stop = time.monotonic() + duration_s
    threads = []

    def user(region: str, i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        client = cluster.client(region, timeout_s)
        proc = recorder.new_process()
        try:
            while time.monotonic() < stop:
                f, key, value = gen(rng, region)
                proc, _ = recorder.run(proc, client, f, key, value, region)
                if pause_s:
                    time.sleep(pause_s)
        finally:
            client.close()

    i = 0
    for region, n in users.items():
        for _ in range(n):
            threads.append(threading.Thread(target=user, args=(region, i), daemon=True))
            i += 1
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration_s + timeout_s * 3 + 10)


class Links:
    """chaoskit's link server in-process, driven through its Toxiproxy HTTP API.

    One proxy per LinkSpec of the plan, with the pair's latency (half each way);
    `cut(region)` disables every link into and out of a region (connections are
    refused), `blackhole(region)` makes them swallow requests (calls time out),
    `heal()` undoes both.
    """

    def __init__(self, plan: AddressPlan, latency: bool = True) -> None:
        from chaoskit.links.server import LinkServer

        self.plan = plan
        self.server = LinkServer().start()
        try:
            proxies = [
                {
                    "name": s.name,
                    "listen": str(s.listen),
                    "upstream": str(s.upstream),
                    "enabled": True,
                }
                for s in plan.links.values()
            ]
            self._api("POST", "/populate", proxies)
            if latency:
                for s in plan.links.values():
                    for stream in ("upstream", "downstream"):
                        attrs = {
                            "latency": int(s.latency.one_way_ms),
                            "jitter": int(s.latency.jitter_ms / 2),
                        }
                        self._api(
                            "POST",
                            f"/proxies/{self._q(s.name)}/toxics",
                            {
                                "name": f"lat-{stream}",
                                "type": "latency",
                                "stream": stream,
                                "attributes": attrs,
                            },
                        )
        except BaseException:
            self.server.stop()
            raise
        self._cut: set[str] = set()
        self._holed: set[str] = set()

    @staticmethod
    def _q(name: str) -> str:
        import urllib.parse

        return urllib.parse.quote(name, safe="")

    def _api(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def cut(self, region: str) -> None:
        for s in self.plan.links_touching(region):
            self._api("POST", f"/proxies/{self._q(s.name)}", {"enabled": False})
            self._cut.add(s.name)

    def blackhole(self, region: str) -> None:
        for s in self.plan.links_touching(region):
            for stream in ("upstream", "downstream"):
                self._api(
                    "POST",
                    f"/proxies/{self._q(s.name)}/toxics",
                    {
                        "name": f"hole-{stream}",
                        "type": "timeout",
                        "stream": stream,
                        "attributes": {"timeout": 0},
                    },
                )
            self._holed.add(s.name)

    def heal(self) -> None:
        for name in sorted(self._cut):
            self._api("POST", f"/proxies/{self._q(name)}", {"enabled": True})
        for name in sorted(self._holed):
            for stream in ("upstream", "downstream"):
                self._api("DELETE", f"/proxies/{self._q(name)}/toxics/hole-{stream}")
        self._cut.clear()
        self._holed.clear()

    def close(self) -> None:
        self.server.stop()
