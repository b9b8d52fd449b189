"""A running cluster: backend + links + system nodes + the fault manager.

The programmatic API the engine, the pytest plugin and game days share::

    with Cluster(topology, GeoKVAdapter({"mode": "quorum"}), LocalBackend(run_dir)) as c:
        h = c.apply_fault("cut-region", {"region": "beijing"})
        ...                       # c.client("xian").invoke("write", "k1", 1)
        c.heal(h)
    # on exit: every fault healed (reverse order), every process stopped

`up()` brings the backend up, builds every link of the address plan, starts
every node and waits until all serve (the error names the node and shows its log
tail). `down()` is safe at any point, twice, and after a partial `up()`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from chaoskit.backends.base import Backend
from chaoskit.backends.teardown import TeardownReport
from chaoskit.events import EventLog
from chaoskit.faults.base import FaultContext
from chaoskit.faults.manager import FaultHandle, FaultManager
from chaoskit.systems.base import Client, SystemAdapter, SystemContext
from chaoskit.topology.model import AddressPlan, Topology


class ClusterError(RuntimeError):
    pass


# Lines that explain a failed start, wherever they are in a log's last part: a node
# running several programs (etcd + Patroni) ends its log with the noise of the others
# stopping after the one that failed.
_ERROR_LINE = re.compile(r"FATAL|CRITICAL|PANIC|ERROR|Traceback|[Ee]xception|exited")


def _tail(path: Path, n: int = 15, scan: int = 400, errors: int = 10) -> str:
    """The last `n` lines of a log, after up to `errors` earlier error lines found among
    its last `scan` lines."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log file)"
    last = lines[-n:]
    earlier = [ln for ln in lines[-scan:-n] if _ERROR_LINE.search(ln)][-errors:]
    if not earlier:
        return "\n".join(last)
    return "\n".join(["(error lines before the end:)", *earlier, "(the end:)", *last])


class Cluster:
    def __init__(
        self,
        topology: Topology,
        adapter: SystemAdapter,
        backend: Backend,
        *,
        events: EventLog | None = None,
        seed: int = 0,
        ready_timeout_s: float = 30.0,
        links_timeout_s: float = 10.0,
        clock_faults: bool | None = None,
    ) -> None:
        self.topology = topology
        self.adapter = adapter
        self.backend = backend
        self.events = events or EventLog(None)
        self.seed = seed
        self.ready_timeout_s = ready_timeout_s
        self.links_timeout_s = links_timeout_s
        # Start skewable nodes under libfaketime: True/False as the caller knows (a
        # scheduled clock fault); None = whenever the backend can (live runs, tests).
        self.clock_faults = clock_faults
        self.plan: AddressPlan | None = None
        self.links: Any = None
        self.system: SystemContext | None = None
        self.faults: FaultManager | None = None
        self.ctx: FaultContext | None = None
        self.api_url: str | None = None
        self.timings: dict[str, float] = {}
        self.teardown: TeardownReport | None = None
        self._down = False

    # -- lifecycle --------------------------------------------------------------------

    def _build_links(self, attempts: int = 3) -> None:
        """Build every link of the plan. Planned ports are free when drawn but not held
        (a plan with node links has thousands), so another process may bind one before
        the link server does: then the links are planned again (no node runs yet)."""
        from chaoskit.links.control import LinkError

        for attempt in range(attempts):
            try:
                self.links.build(self.plan)
                return
            except LinkError as e:
                if "already in use" not in str(e).lower() or attempt == attempts - 1:
                    raise
                self.plan = self.backend.plan(self.topology, tuple(self.adapter.ports))
                if hasattr(self.backend, "plan_"):
                    self.backend.plan_ = self.plan

    def up(self) -> Cluster:

        t = time.monotonic()
        self.plan = self.backend.plan(self.topology, tuple(self.adapter.ports))
        self.api_url = self.backend.up(self.topology, self.plan)
        self.timings["backend_up_s"] = time.monotonic() - t

        t = time.monotonic()
        # A backend over several link servers (MultiEngineBackend) gives its own handle.
        self.links = self.backend.link_control(self.api_url)
        self.links.wait_ready(self.links_timeout_s)
        self._build_links()
        self.timings["links_build_s"] = time.monotonic() - t

        nodes = [n.name for n in self.topology.nodes]
        self.system = SystemContext(
            topology=self.topology,
            plan=self.plan,
            backend=self.backend,
            members=list(nodes),
            events=self.events,
            clock_faults=(
                self.backend.clock_skew_available()
                if self.clock_faults is None
                else self.clock_faults
            ),
        )
        self.ctx = FaultContext(
            topology=self.topology,
            plan=self.plan,
            backend=self.backend,
            links=self.links,
            adapter=self.adapter,
            system=self.system,
            seed=self.seed,
            ready_timeout_s=self.ready_timeout_s,
        )
        self.faults = FaultManager(self.ctx, self.events)

        t = time.monotonic()
        for n in nodes:
            self.backend.start_node(n, self.adapter.node_spec(n, self.system))
        self.timings["nodes_start_s"] = time.monotonic() - t
        t = time.monotonic()
        try:
            self.adapter.wait_ready(self.system, nodes, self.ready_timeout_s)
        except Exception as e:
            raise ClusterError(self._readiness_report(str(e), nodes)) from e
        self.timings["nodes_ready_s"] = time.monotonic() - t
        return self

    def _readiness_report(self, message: str, nodes: list[str]) -> str:
        """The adapter's message plus the log tail of the node it names (or of dead nodes)."""
        named = [n for n in nodes if n in message]
        dead = [n for n in nodes if not self.backend.is_running(n)]
        show = list(dict.fromkeys(sorted(named, key=len, reverse=True)[:1] + dead))[:3]
        parts = [f"the cluster did not become ready: {message}"]
        for n in show:
            state = "running" if self.backend.is_running(n) else "NOT running"
            parts.append(
                f"--- {n} ({state}), last lines of {self.backend.node_log(n)}:\n{_tail(self.backend.node_log(n))}"
            )
        return "\n".join(parts)

    def down(self, source: str = "teardown") -> list[str]:
        """Heal every active fault, then stop everything. Returns heal errors, plus one
        error naming what the backend could not remove (and the command that does).
        `self.teardown` keeps the backend's report of what it removed."""
        errors: list[str] = []
        if self.faults is not None:
            self.ctx.tearing_down = True  # everything stops next: do not wait for restarts
            errors = self.faults.heal_all(source)
        if not self._down:
            self._down = True
            try:
                self._remove_links_from_external_server()
            finally:
                report = self.backend.down()
            if isinstance(report, TeardownReport):
                self.teardown = report
                self.events.emit("teardown", **report.to_dict())
                if not report.complete:
                    errors.append(report.summary())
        return errors

    def _remove_links_from_external_server(self) -> None:
        """A link server we did not start (a real Toxiproxy) outlives the run: take our
        proxies off it so their ports close."""
        if not self.backend.links_url or self.links is None or self.plan is None:
            return
        from urllib.parse import quote

        for spec in self.plan.links.values():
            try:
                self.links._request(
                    "DELETE", f"/proxies/{quote(spec.name, safe='')}", ok=(200, 204, 404)
                )
            except Exception:  # best effort: the server may be gone
                pass

    def __enter__(self) -> Cluster:
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- faults ----------------------------------------------------------------------

    def _manager(self) -> FaultManager:
        if self.faults is None:
            raise ClusterError("the cluster is not up")
        return self.faults

    def apply_fault(
        self,
        spec: Any,
        params: dict[str, Any] | None = None,
        *,
        source: str = "api",
        fault_id: str | None = None,
    ) -> FaultHandle:
        """Apply a fault by kind + params, or from a FaultSpec-like object (.kind, .params, .id)."""
        if isinstance(spec, str):
            kind, p = spec, params or {}
        else:
            kind, p = spec.kind, dict(spec.params)
            fault_id = fault_id or getattr(spec, "id", None)
        return self._manager().apply(kind, p, fault_id=fault_id, source=source)

    def heal(self, handle: FaultHandle, source: str | None = None) -> bool:
        return self._manager().heal(handle, source)

    def heal_all(self, source: str = "teardown") -> list[str]:
        return self._manager().heal_all(source) if self.faults else []

    def active_faults(self) -> list[FaultHandle]:
        return self.faults.active() if self.faults else []

    def applied_faults(self) -> list[FaultHandle]:
        """Every fault applied so far, healed or not."""
        return self.faults.applied() if self.faults else []

    # -- observation -------------------------------------------------------------------

    def link_state(self) -> dict[str, Any]:
        try:
            return self.links.state() if self.links is not None else {}
        except Exception as e:  # the report may do without it
            return {"error": str(e)}

    def client(self, region: str, timeout_s: float = 2.0) -> Client:
        if self.plan is None:
            raise ClusterError("the cluster is not up")
        return self.adapter.client(self.plan.outside[region], region, timeout_s)
