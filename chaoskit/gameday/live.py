"""A live run: the topology up, load started and stopped on demand, faults applied
and healed by hand, and an ending that checks and reports exactly as `chaoskit run`.

The game day and the pytest fixtures share it. It is built from the engine's
public pieces (Cluster, RunDir, EventLog, make_backend, evaluate_checks) and the
the load package's start_load/final_reads; it never imports Locust.

    live = LiveRun(experiment, results_root)
    live.up()                                   # results dir, backend, links, nodes ready
    live.start_load(web_ui={...})               # Locust in its own process
    h = live.apply("cut-region", {"region": "beijing"}, source="gameday-web")
    live.heal(h.id, source="gameday-terminal")
    result = live.finish(source="gameday-web")  # stop load, heal all, final reads, down, checks
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaoskit.gameday.health import recent_health

EXIT_OK, EXIT_BOUND_FAILED, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3
HEALTH_WINDOW_S = 5.0  # the panel's "served right now" per region looks this far back
LOAD_STOP_BOUND_S = 20.0  # LoadRun.stop() waits up to its own grace; we never wait longer


class LiveError(RuntimeError):
    """A live action that cannot be done (bad fault, unknown id, cluster not up)."""


@dataclass
class LiveResult:
    """How a live run ended: exit code as `chaoskit run` (0 passed, 1 a bound failed, 3 broken)."""

    exit_code: int
    run_dir: Path | None
    checks: Any = None  # the chaoskit.report.checks.CheckReport
    error: str | None = None
    failures: list[str] = field(default_factory=list)


def fault_spec(experiment: Any, kind: str, params: dict[str, Any]) -> Any:
    """Validate one fault the way a schedule entry is validated (defaults filled,
    durations in seconds, regions checked against the topology) -> FaultSpec.

    Raises LiveError naming the parameter and what would be valid.
    """
    from chaoskit.experiment.validate import validate_fault

    if not isinstance(kind, str) or not kind:
        raise LiveError("no fault named; e.g. `apply cut-region region=beijing`")
    for reserved in ("at", "for", "fault", "id"):
        if reserved in params:
            raise LiveError(
                f"{reserved!r} is not a fault parameter here: a live fault lasts until it is healed"
            )
    spec, errors = validate_fault(experiment, {"fault": kind, **params}, file="<live>")
    if spec is None:
        msgs = [f"{x.field}: {x.message}" if x.field else x.message for x in errors]
        raise LiveError(f"{kind}: " + "; ".join(msgs))
    return spec


class LiveRun:
    """One experiment's topology, brought up and driven by hand."""

    def __init__(
        self,
        experiment: Any,
        results_root: Path,
        *,
        backend: str | None = None,
        run_schedule: bool = False,
    ) -> None:
        self.experiment = experiment
        self.results_root = Path(results_root)
        self.backend_name = backend or getattr(experiment, "backend", None) or "local"
        self.run_schedule = run_schedule
        self.run: Any = None  # chaoskit.results.RunDir
        self.events: Any = None  # chaoskit.events.EventLog
        self.cluster: Any = None  # chaoskit.cluster.Cluster
        self.t0_ns = 0
        self.load: Any = None  # chaoskit.load.LoadRun
        self.load_plan: Any = None
        self.scheduler: Any = None
        self.handles: dict[str, Any] = {}  # every fault applied, by id
        self._lock = threading.RLock()
        self._closed = False
        self._load_started = False

    # -- lifecycle -------------------------------------------------------------------

    def up(self) -> LiveRun:
        """Create the results directory and bring the topology up; on failure tear
        down what started and raise (the results stay, marked INCOMPLETE)."""
        from chaoskit.cluster import Cluster
        from chaoskit.engine import make_backend
        from chaoskit.events import EventLog
        from chaoskit.results import RunDir
        from chaoskit.systems import get_adapter

        exp = self.experiment
        adapter = get_adapter(exp.system.kind)(dict(exp.system.options))
        problems = adapter.validate(self.backend_name)
        if problems:
            raise LiveError("; ".join(problems))
        self.run = RunDir.create(self.results_root, exp.name)
        raw = getattr(exp, "raw", None) or {"name": exp.name}
        self.run.write_text("experiment.yaml", yaml.safe_dump(raw, sort_keys=False))
        self.t0_ns = time.monotonic_ns()
        self.events = EventLog(self.run.file("events.jsonl"), self.t0_ns)
        self.events.emit(
            "run-start",
            experiment=exp.name,
            backend=self.backend_name,
            seed=exp.seed,
            run_dir=str(self.run.path),
            pid=os.getpid(),
        )
        try:
            be = make_backend(self.backend_name, self.run, exp)  # exp: its links: section
            self.cluster = Cluster(exp.topology, adapter, be, events=self.events, seed=exp.seed)
            self.cluster.up()
            self.events.note("topology up", timings=self.cluster.timings, api=self.cluster.api_url)
        except BaseException as e:
            self.abort(f"bringing the topology up failed: {type(e).__name__}: {e}")
            raise
        return self

    @property
    def run_dir(self) -> Path:
        return self.run.path

    # -- load ------------------------------------------------------------------------

    def make_load_plan(
        self,
        *,
        users: dict[str, int] | None = None,
        rate: float | None = None,
        duration_s: float | None = None,
        out_dir: Path | None = None,
        web_ui: dict[str, Any] | None = None,
        workers: int | None = None,
    ) -> Any:
        """`workers`: Locust worker processes (None = the experiment's load.workers;
        0 = in-process). With workers, Locust's master serves the web UI."""
        from chaoskit.engine import workload_spec
        from chaoskit.load import LoadPlan, views_from_plan

        exp, ls = self.experiment, self.experiment.load
        return LoadPlan(
            system_kind=exp.system.kind,
            system_options=dict(exp.system.options),
            views=views_from_plan(self.cluster.plan.outside),
            users=users or {r: n for r, n in exp.topology.clients.items() if n > 0},
            workload=workload_spec(ls, exp.seed, duration_s=duration_s, rate=rate),
            t0_ns=self.t0_ns,
            out_dir=Path(out_dir or self.run.path),
            workers=ls.workers if workers is None else workers,
            web_ui=web_ui,
        )

    def start_load(self, plan: Any = None, *, env: dict[str, str] | None = None, **kw: Any) -> Any:
        """Start Locust (returns once users spawn). `env`: extra environment variables
        for the Locust process only (start_load inherits ours, so they are set around it)."""
        from chaoskit.load import start_load

        if self.cluster is None:
            raise LiveError("the cluster is not up")
        if self.load is not None and self.load.alive():
            raise LiveError("a load is already running")
        plan = plan or self.make_load_plan(**kw)
        saved = {k: os.environ.get(k) for k in (env or {})}
        try:
            os.environ.update(env or {})
            self.load = start_load(plan)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.load_plan = plan
        self._load_started = True
        self.events.emit(
            "load-start",
            duration_s=plan.workload.duration_s,
            users=plan.users,
            workers=plan.workers,
            out_dir=str(plan.out_dir),
        )
        if self.run_schedule and self.experiment.schedule and self.scheduler is None:
            from chaoskit.scheduler import Scheduler

            self.scheduler = Scheduler(
                self.experiment.schedule,
                self.cluster.faults,
                base_ns=time.monotonic_ns(),
                seed=self.experiment.seed,
                end_s=plan.workload.duration_s,
            )
            self.scheduler.start()
        return self.load

    def stop_load(self) -> None:
        """Stop the load (graceful, bounded) and journal load-stop; idempotent."""
        if self.scheduler is not None:
            self.scheduler.stop(5)
        load, self.load = self.load, None
        if load is None:
            return
        interrupted = load.alive()
        load.stop_within(LOAD_STOP_BOUND_S)
        self.events.emit("load-stop", interrupted=interrupted)

    # -- faults ----------------------------------------------------------------------

    def apply(self, kind: str, params: dict[str, Any] | None = None, *, source: str) -> Any:
        """Validate and apply one fault; returns its FaultHandle (id, kind, targets)."""
        if self.cluster is None or self.cluster.faults is None:
            raise LiveError("the cluster is not up")
        spec = fault_spec(self.experiment, kind, dict(params or {}))
        with self._lock:
            # "g" ids never collide with the schedule's f1, f2, ... when both run
            fid = self.cluster.faults.new_id("g")
            try:
                h = self.cluster.apply_fault(spec.kind, spec.params, source=source, fault_id=fid)
            except Exception as e:
                raise LiveError(f"applying {kind} failed: {e}") from e
            self.handles[h.id] = h
            return h

    def heal(self, fault_id: str, *, source: str) -> list[str]:
        """Heal one active fault by id, or every one with "all"; returns the ids healed."""
        if self.cluster is None or self.cluster.faults is None:
            raise LiveError("the cluster is not up")
        with self._lock:
            active = self.cluster.active_faults()
            if fault_id == "all":
                healed = [h.id for h in reversed(active)]
                errors = self.cluster.heal_all(source)
                if errors:
                    raise LiveError("healing failed: " + "; ".join(errors))
                return healed
            match = [h for h in active if h.id == fault_id]
            if not match:
                ids = ", ".join(h.id for h in active) or "none"
                raise LiveError(f"no active fault {fault_id!r} (active: {ids})")
            if not self.cluster.heal(match[0], source):
                raise LiveError(f"healing {fault_id} failed: {match[0].heal_error}")
            return [fault_id]

    def note(self, message: str, **fields: Any) -> None:
        if self.events is not None:
            self.events.note(message, **fields)

    @contextmanager
    def fault(self, kind: str, params: dict[str, Any] | None = None, *, source: str) -> Any:
        """Apply on entry, heal on exit (also when the block raises)."""
        h = self.apply(kind, params, source=source)
        try:
            yield h
        finally:
            if not h.healed:
                self.cluster.heal(h, source)

    # -- observation -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Plain data for the panel and the terminal: topology, links, faults, journal."""
        from chaoskit.faults.catalogue import FAULTS

        topo = self.experiment.topology
        c = self.cluster
        active = c.active_faults() if c is not None else []
        return {
            "experiment": self.experiment.name,
            "run_dir": str(self.run.path) if self.run else None,
            "elapsed_s": round((time.monotonic_ns() - self.t0_ns) / 1e9, 1) if self.t0_ns else 0,
            "load": {
                "running": bool(self.load is not None and self.load.alive()),
                "users": self.load_plan.users if self.load_plan else {},
            },
            "topology": {
                "regions": [
                    {
                        "name": r.name,
                        "location": r.location,
                        "clients": topo.clients.get(r.name, 0),
                        "zones": [
                            {
                                "name": z.name,
                                "nodes": [
                                    {
                                        "name": n.name,
                                        "running": _running(c, n.name),
                                        "pid": _pid(c, n.name),
                                    }
                                    for n in topo.nodes
                                    if n.zone == z.name and n.region == r.name
                                ],
                            }
                            for z in r.zones
                        ],
                    }
                    for r in topo.regions
                ],
                "latency_ms": _latency_matrix(topo),
            },
            "links": _links(c.link_state() if c is not None else {}),
            "active": [_handle_dict(h) for h in active],
            "catalogue": [
                {
                    "name": f.name,
                    "family": f.family,
                    "doc": f.doc,
                    "instant": f.instant,
                    "params": [
                        {
                            "name": p.name,
                            "type": p.type,
                            "required": p.required,
                            "default": p.default,
                            "choices": list(p.choices),
                            "doc": p.doc,
                        }
                        for p in f.params
                    ],
                }
                for f in FAULTS.values()
            ],
            "journal": (self.events.events[-40:] if self.events else []),
            # per region: served / completed over the last HEALTH_WINDOW_S seconds
            "health_window_s": HEALTH_WINDOW_S,
            "health": (
                recent_health(
                    self.run.file("history.jsonl"),
                    time.monotonic_ns() - self.t0_ns,
                    HEALTH_WINDOW_S,
                )
                if self.run is not None and self.t0_ns
                else {}
            ),
        }

    # -- ending ----------------------------------------------------------------------

    def finish(
        self, source: str = "teardown", *, checks: bool = True, final_reads: bool = True
    ) -> LiveResult:
        """Stop the load, heal everything, final reads, tear down, then check and
        report as `chaoskit run` does. Never raises; the results are always left."""
        from chaoskit.engine import evaluate_checks

        result = LiveResult(EXIT_BROKEN, self.run.path if self.run else None)
        heal_errors: list[str] = []
        link_state = None
        try:
            self.stop_load()
            heal_errors = self.cluster.heal_all(source) if self.cluster else []
            if (
                final_reads
                and self._load_started
                and self.experiment.load.final_reads
                and self.load_plan
            ):
                from chaoskit.load import final_reads as read_finally

                counts = read_finally(self.load_plan)
                self.events.emit("final-reads", regions=counts)
            link_state = self.cluster.link_state() if self.cluster else None
            heal_errors += self.cluster.down(source) if self.cluster else []
            self._closed = True
            self.events.emit("run-end", ok=not heal_errors, heal_errors=heal_errors)
            self.events.close()
            if checks and self._load_started:
                passed, report = evaluate_checks(self.run, self.experiment, link_state)
                result.checks = report
                result.failures = list(report.failures)
                result.exit_code = EXIT_OK if passed else EXIT_BOUND_FAILED
            else:
                result.exit_code = EXIT_OK
            if self.scheduler is not None and self.scheduler.errors:
                heal_errors += list(self.scheduler.errors)
            if heal_errors:
                result.error = "the run did not go as planned: " + "; ".join(heal_errors)
                result.exit_code = EXIT_BROKEN
        except BaseException as e:
            result.error = f"{type(e).__name__}: {e}"
            result.exit_code = EXIT_BROKEN
            if self.run is not None:
                self.run.write_text("error.txt", traceback.format_exc())
            self.abort(result.error)
            if not isinstance(e, Exception):
                raise
        if self.run is not None:
            if result.exit_code in (EXIT_OK, EXIT_BOUND_FAILED):
                self.run.finish()
            else:
                self.run.mark_incomplete(result.error or "the run did not finish")
        return result

    def abort(self, reason: str) -> None:
        """The safety net: stop load, heal (source teardown), stop every process.
        Safe to call at any point and more than once."""
        errors: list[str] = []
        try:
            self.stop_load()
        except Exception as e:
            errors.append(f"stopping the load: {e}")
        if self.cluster is not None:
            try:
                errors += self.cluster.down("teardown")
            except Exception as e:
                errors.append(f"teardown: {e}")
        if not self._closed and self.events is not None:
            self._closed = True
            self.events.emit("run-end", ok=False, error=reason, teardown_errors=errors)
            self.events.close()
        if self.run is not None and self.run.incomplete:
            self.run.mark_incomplete(
                reason + ("\nteardown: " + "; ".join(errors) if errors else "")
            )


def _running(cluster: Any, node: str) -> bool | None:
    try:
        return bool(cluster.backend.is_running(node)) if cluster is not None else None
    except Exception:
        return None


def _pid(cluster: Any, node: str) -> int | None:
    fn = getattr(getattr(cluster, "backend", None), "pid", None)
    try:
        return fn(node) if callable(fn) else None
    except Exception:
        return None


def _latency_matrix(topology: Any) -> dict[str, dict[str, float]]:
    """region -> region -> RTT in ms (from the topology's resolved latency)."""
    out: dict[str, dict[str, float]] = {}
    lat = getattr(topology, "latency", None) or {}
    for key, val in lat.items() if isinstance(lat, dict) else []:
        try:
            a, b = key
            rtt = getattr(val, "rtt_ms", None)
            if rtt is None:
                rtt = getattr(val, "rtt_s", 0) * 1000.0
            out.setdefault(a, {})[b] = round(float(rtt), 1)
        except (TypeError, ValueError):
            continue
    return out


def _links(state: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(state, dict) or "error" in state:
        return []
    out = []
    for name, s in sorted(state.items()):
        lat = [t for t in s.get("toxics", []) if t.get("type") == "latency"]
        out.append(
            {
                "name": name,
                "cut": s.get("cut"),
                "mode": s.get("mode"),
                "latency_ms": (lat[0].get("attributes", {}).get("latency") if lat else None),
                "toxics": [t.get("name") for t in s.get("toxics", [])],
            }
        )
    return out


def _handle_dict(h: Any) -> dict[str, Any]:
    return {
        "id": h.id,
        "fault": h.kind,
        "params": h.params,
        "targets": h.targets,
        "source": h.source,
        "applied_at_s": round(h.applied_at_ns / 1e9, 2),
        "describe": h.describe(),
    }
