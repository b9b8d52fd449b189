"""The run loop: one experiment, top to bottom.

    validate -> results dir -> backend.up + links.build + nodes ready (Cluster.up)
    -> load from every region -> schedule (scheduler threads on the load clock)
    -> load ends -> heal everything -> final reads -> teardown -> checks -> results

Heal and teardown are guaranteed (``finally``). SIGINT/SIGTERM: the first signal
stops the run gracefully (load stopped, faults healed, everything torn down, the
results left marked INCOMPLETE) within a few seconds; a second one hurries
(no grace periods). Exit codes: 0 every bound held, 1 a bound failed, 2 bad
experiment or usage (nothing started), 3 the run itself broke or was interrupted.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from chaoskit.cluster import Cluster
from chaoskit.events import EventLog
from chaoskit.faults.disk import DISK_FAULTS, data_size_mb
from chaoskit.progress import Progress
from chaoskit.results import RunDir
from chaoskit.rolewatch import RoleWatch
from chaoskit.scheduler import Scheduler

EXIT_OK, EXIT_BOUND_FAILED, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3
LOAD_STOP_BOUND_S = 5.0  # an interrupted load gets this long to flush before it is killed


class Interrupted(BaseException):
    """Raised (from the signal handler) while the main thread is in a blocking phase."""


@dataclass
class RunResult:
    exit_code: int
    run_dir: Path | None
    checks: Any = None  # the CheckReport
    error: str | None = None
    interrupted: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    teardown: Any = None  # the backend's TeardownReport: what was removed, what was not


class _Signals:
    """First signal: stop gracefully; second: hurry; raise Interrupted inside blocking phases."""

    def __init__(self) -> None:
        self.count = 0
        self.name: str | None = None
        self.phase = ""  # the run's phase now, set by the engine as it moves on
        self.landed_in = ""  # the phase the first signal arrived in
        self.event = threading.Event()
        self.raise_now = False
        self.on_hurry: list[Any] = []
        self.on_abandon: list[Any] = []  # run before a third signal exits at once
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread (pytest plugin, game day)
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.name = signal.Signals(signum).name
        if self.count == 1:
            self.landed_in = self.phase
        self.event.set()
        if self.count >= 2:
            for fn in self.on_hurry:
                try:
                    fn()
                except Exception:
                    pass
        if self.count >= 3:
            for fn in self.on_abandon:
                try:
                    fn()
                except Exception:
                    pass
            os._exit(EXIT_BROKEN)
        if self.raise_now:
            self.raise_now = False
            raise Interrupted(self.name)

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


def make_backend(
    name: str,
    run: RunDir,
    experiment: Any = None,
    engines: Any = None,
    faketime_root: str | Path | None = None,
) -> Any:
    """The backend by name (chaoskit.backends registry; both take run_dir + run_id).
    `engines` (region -> EngineRef): docker regions spread over several engines.
    `faketime_root`: where the local backend looks for libfaketime (default /usr/lib)."""
    links = getattr(experiment, "links", None)
    if engines:
        from chaoskit.backends.docker.engines import MultiEngineBackend

        toxiproxy = links is not None and getattr(links, "server", "builtin") == "toxiproxy"
        image = getattr(links, "image", None) if toxiproxy else None
        return MultiEngineBackend(run.path, run_id=run.run_id, engines=engines, links_image=image)
    if name == "local" and links is not None and getattr(links, "server", "builtin") == "toxiproxy":
        if not getattr(links, "url", None):
            raise RuntimeError(
                "links.server toxiproxy with the local backend needs links.url (its API URL)"
            )
        from chaoskit.backends.local import LocalBackend

        return LocalBackend(
            run.path, run_id=run.run_id, links_url=links.url, faketime_root=faketime_root
        )
    if (
        name == "docker"
        and links is not None
        and getattr(links, "server", "builtin") == "toxiproxy"
    ):
        # The experiment's Toxiproxy image runs as the links container; without it the
        # docker backend would silently fall back to the built-in link server.
        if not getattr(links, "image", None):
            raise RuntimeError(
                "links.server toxiproxy with the docker backend needs links.image "
                "(a Toxiproxy image, e.g. ghcr.io/shopify/toxiproxy:2.9.0)"
            )
        from chaoskit.backends.docker.backend import DockerBackend

        return DockerBackend(run.path, run_id=run.run_id, links_image=links.image)
    from chaoskit.backends import get_backend

    if name == "local":
        return get_backend(name)(run.path, run_id=run.run_id, faketime_root=faketime_root)
    return get_backend(name)(run.path, run_id=run.run_id)


@dataclass
class RemoteWorkers:
    """Locust workers started by hand on other machines (docs/load.md): the master
    listens on `bind:port` and waits up to `wait_s` for `count` of them."""

    count: int = 0
    bind: str = "127.0.0.1"  # "*" (or an interface) so other machines reach the master
    port: int = 0  # fixed, so the workers can be started with --master-port first
    wait_s: float = 60.0


def _load_plan(
    experiment: Any,
    cluster: Cluster,
    run: RunDir,
    t0_ns: int,
    workers: int | None,
    remote: RemoteWorkers | None = None,
) -> Any:
    from chaoskit.load import LoadPlan, views_from_plan

    ls = experiment.load
    remote = remote or RemoteWorkers()
    return LoadPlan(
        system_kind=experiment.system.kind,
        system_options=dict(experiment.system.options),
        views=views_from_plan(cluster.plan.outside),
        users={r: n for r, n in experiment.topology.clients.items() if n > 0},
        workload=workload_spec(ls, experiment.seed),
        t0_ns=t0_ns,
        out_dir=run.path,
        workers=ls.workers if workers is None else workers,
        remote_workers=remote.count,
        master_bind_host=remote.bind,
        master_port=remote.port,
        worker_wait_s=remote.wait_s,
    )


def workload_spec(
    ls: Any,
    seed: int,
    *,
    duration_s: float | None = None,
    rate: float | None = None,
) -> Any:
    """The load package's WorkloadSpec from the experiment's `load:` section.

    The experiment's `cas_ratio` is the share of the NON-read operations that are cas
    (docs/experiment.md); the load package draws every operation from one distribution,
    so it takes shares of ALL operations: convert here, once.
    """
    from chaoskit.load import WorkloadSpec

    cas = (1.0 - ls.read_ratio) * ls.cas_ratio if ls.workload == "cas-register" else 0.0
    return WorkloadSpec(
        workload=ls.workload,
        keys=ls.keys,
        duration_s=duration_s or ls.duration_s,
        rate=rate if rate is not None else ls.rate,
        rate_per_region=None if rate is not None else ls.rate_per_region,
        read_ratio=ls.read_ratio,
        cas_ratio=cas,
        timeout_s=ls.timeout_s,
        seed=seed,
        txn=ls.txn,
    )


def evaluate_checks(run: RunDir, experiment: Any, link_state: dict | None) -> tuple[bool, Any]:
    """Judge the run against the experiment's checks (writes check.json, summary.md,
    report.html): (passed, the CheckReport)."""
    from chaoskit.report.checks import evaluate

    rep = evaluate(run.path, experiment, experiment.topology, link_state=link_state)
    return bool(rep.passed), rep


def _start_live_metrics(
    experiment: Any, run: RunDir, events: EventLog, console: Console, port: int
) -> Any:
    """The report package's Prometheus endpoint, following history.jsonl and events.jsonl."""
    from chaoskit.report.live import LiveMetrics

    metrics = LiveMetrics(experiment.topology)
    bound = metrics.start(run.file("history.jsonl"), run.file("events.jsonl"), port)
    events.note("live metrics", url=f"http://127.0.0.1:{bound}/metrics")
    console.print(f"live metrics: http://127.0.0.1:{bound}/metrics")
    return metrics


def _wait_for_load(load: Any, sig: _Signals, duration_s: float, run: RunDir, *watches: Any) -> None:
    """Until the load ends by itself (or a signal asks us to stop it, within bounds).
    A watch (chaoskit.watchdog: the link server, the Docker engine) that found the
    harness broken ends the run broken with its reason; the first watch speaks first."""
    deadline = time.monotonic() + duration_s + 60.0
    while load.alive() and not sig.stopped:
        for watch in watches:
            if watch.reason:
                raise RuntimeError(watch.reason)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the load did not end within {duration_s + 60:.0f} s")
        sig.event.wait(0.2)
    if sig.stopped:
        load.stop_within(0.5 if sig.count >= 2 else LOAD_STOP_BOUND_S)
        return
    code = load.wait(30)
    if code != 0:
        if results_full(run.path):  # the load could not write its history
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run.path))
        raise RuntimeError(f"the load process failed (exit {code}); see {run.file('load.log')}")


def describe_error(e: Exception, results: Path) -> str:
    """The run's error in words; a full results disk says where and what to do."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return (
            f"the results directory {results} is full ({e.strerror}): the run was stopped "
            "and torn down; free space there or pass --results elsewhere"
        )
    return f"{type(e).__name__}: {e}"


def results_full(path: Path, reserve_bytes: int = 64 << 10) -> bool:
    """True when the filesystem of the results directory has (almost) no room left."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < reserve_bytes


def trim_partial_record(path: Path) -> bool:
    """Cut a .jsonl file back to its last whole line (a writer stopped mid-record, e.g.
    by a full disk): what remains is whole records only. Truncating needs no space."""
    try:
        with open(path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size == 0:
                return False
            start = max(0, size - (1 << 20))
            f.seek(start)
            tail = f.read()
            if tail.endswith(b"\n"):
                return False
            cut = tail.rfind(b"\n")
            if cut < 0 and start > 0:
                return False  # a record longer than 1 MiB: left alone
            f.truncate(start + cut + 1)
            return True
    except OSError:
        return False


def _best_effort(fn: Any) -> None:
    try:
        fn()
    except OSError:
        pass


def _save_experiment(run: RunDir, experiment: Any) -> None:
    raw = getattr(experiment, "raw", None) or {"name": experiment.name}
    run.write_text(
        "experiment.yaml", yaml.safe_dump(raw, sort_keys=False, default_flow_style=False)
    )


def run_experiment(
    experiment: Any,
    results_root: Path,
    *,
    backend: str | None = None,
    metrics_port: int | None = None,
    workers: int | None = None,
    remote: RemoteWorkers | None = None,
    quiet: bool = False,
    console: Console | None = None,
    install_signals: bool = True,
    before_checks: Callable[[], None] | None = None,
    at_phase: Callable[[str], None] | None = None,
    engines: Any = None,
    faketime_root: str | Path | None = None,
) -> RunResult:
    """Run one experiment end to end into a new directory under `results_root`.

    `before_checks` is called after teardown, right before the checks (a signal
    arriving while it runs interrupts the run as one arriving during the checks).
    `at_phase` is called with "healing" (the load over, its faults still applied)
    and "final reads" as those phases begin; a signal arriving while it runs lands
    in that phase (it returns at once then: the first signal ends the call).
    `faketime_root`: where the local backend looks for libfaketime (default
    /usr/lib), needed only by clock faults.
    """
    console = console or Console(stderr=True, quiet=quiet)
    backend_name = backend or getattr(experiment, "backend", None) or "local"

    # ---- validate: nothing starts when the system cannot run here ----------------
    from chaoskit.systems import get_adapter

    adapter = get_adapter(experiment.system.kind)(dict(experiment.system.options))
    problems = adapter.validate(backend_name)
    if problems:
        return RunResult(EXIT_USAGE, None, error="; ".join(problems))
    from chaoskit.experiment.host import clock_faults, host_problems

    refused = host_problems(experiment, backend_name, faketime_root)
    if refused:
        return RunResult(EXIT_USAGE, None, error="; ".join(str(p) for p in refused))

    try:  # nothing runs yet: a results directory that cannot be written stops here
        run = RunDir.create(Path(results_root), experiment.name)
        _save_experiment(run, experiment)
        t0_ns = time.monotonic_ns()
        events = EventLog(run.file("events.jsonl"), t0_ns)
        events.emit(
            "run-start",
            experiment=experiment.name,
            backend=backend_name,
            seed=experiment.seed,
            run_dir=str(run.path),
            pid=os.getpid(),
        )
    except OSError as e:
        return RunResult(EXIT_BROKEN, None, error=describe_error(e, Path(results_root)))
    sig = _Signals()
    if install_signals:
        sig.install()
    progress = Progress(console, quiet=quiet)
    result = RunResult(EXIT_BROKEN, run.path)
    cluster: Cluster | None = None
    load = None
    sched: Scheduler | None = None
    roles: RoleWatch | None = None
    metrics = None
    watch = None
    engine_watch = None
    nodes_watch = None
    link_state: dict | None = None
    teardown_errors: list[str] = []

    def hurry() -> None:
        if cluster is not None:
            cluster.backend.hurry = True
            if cluster.ctx is not None:
                cluster.ctx.ready_timeout_s = 1.0

    def enter(phase: str) -> None:
        sig.phase = phase
        progress.set_phase(phase)

    def hold(phase: str) -> None:
        """`at_phase`, ended by the first signal (which the caller then sees as stopped)."""
        if at_phase is None:
            return
        sig.raise_now = True
        try:
            at_phase(phase)
        except Interrupted:
            pass
        finally:
            sig.raise_now = False

    sig.on_hurry.append(hurry)
    sig.on_abandon.append(
        lambda: os.write(
            2, f"chaoskit: teardown abandoned; `chaoskit clean --run {run.run_id}`\n".encode()
        )
    )
    try:
        # ---- topology up: backend, links, nodes ready -----------------------------
        enter("bringing the topology up")
        progress.start()
        be = make_backend(backend_name, run, experiment, engines, faketime_root)
        be.disk_faults = any(f.kind in DISK_FAULTS for f in experiment.all_faults())
        be.data_size_mb = data_size_mb(experiment.all_faults())
        cluster = Cluster(
            experiment.topology,
            adapter,
            be,
            events=events,
            seed=experiment.seed,
            clock_faults=bool(clock_faults(experiment)),
        )
        sig.raise_now = True
        cluster.up()
        sig.raise_now = False
        result.timings.update(cluster.timings)
        events.note("topology up", timings=cluster.timings, api=cluster.api_url)
        if sig.stopped:
            raise Interrupted(sig.name)

        # ---- load from every region + the fault schedule --------------------------
        from chaoskit.load import final_reads, start_load

        plan = _load_plan(experiment, cluster, run, t0_ns, workers, remote)
        if metrics_port is not None:
            metrics = _start_live_metrics(experiment, run, events, console, metrics_port)
        enter("load + faults")
        sig.raise_now = True
        load = start_load(plan)
        sig.raise_now = False
        load_start_ns = time.monotonic_ns()
        # a crashed harness's load is found by `chaoskit clean` too
        for i, pid in enumerate(load.pids):
            be.adopt(f"load-{i}", pid)
        events.emit(
            "load-start",
            duration_s=experiment.load.duration_s,
            users=plan.users,
            workers=plan.workers,
            remote_workers=plan.remote_workers,
        )
        progress.follow(run.file("history.jsonl"), cluster.active_faults)
        sched = Scheduler(
            experiment.schedule,
            cluster.faults,
            base_ns=load_start_ns,
            seed=experiment.seed,
            end_s=experiment.load.duration_s,
        )
        sched.start()
        roles = RoleWatch(adapter, cluster.system, events).start()
        from chaoskit.nodewatch import NodeWatch
        from chaoskit.watchdog import EngineWatch, LinkWatch

        engine_watch = EngineWatch(be).start()
        watch = LinkWatch(cluster.api_url, token=be.links_token).start()
        nodes_watch = NodeWatch(
            be,
            {n.name: n.region for n in experiment.topology.nodes},
            cluster.applied_faults,
            events,
        ).start()
        try:
            _wait_for_load(load, sig, experiment.load.duration_s, run, engine_watch, watch)
        except RuntimeError as e:  # on the timeline: when the run found itself broken
            events.note("harness fault", error=str(e))
            raise
        engine_watch.stop()
        watch.stop()
        nodes_watch.stop()
        sched.stop()
        events.emit("load-stop", interrupted=sig.stopped)

        # ---- heal everything, final reads, teardown --------------------------------
        enter("healing")
        hold("healing")
        if sig.stopped:
            cluster.ctx.tearing_down = True  # no final reads follow: do not wait for restarts
        heal_errors = cluster.heal_all("teardown" if sig.stopped else "schedule")
        if sig.stopped:
            raise Interrupted(sig.name)
        if experiment.load.final_reads:
            enter("final reads")
            hold("final reads")
            if sig.stopped:
                raise Interrupted(sig.name)
            sig.raise_now = True
            counts = final_reads(plan)
            sig.raise_now = False
            events.emit("final-reads", regions=counts)
        roles.stop()
        link_state = cluster.link_state()
        enter("tearing down")
        teardown_errors += cluster.down()
        # The log stays open: a signal during the checks must still be able to append
        # its run-end ok=false, so that events.jsonl agrees with the INCOMPLETE marker.
        events.emit("run-end", ok=True, heal_errors=heal_errors)

        # ---- checks and results -----------------------------------------------------
        enter("checking")
        sig.raise_now = True
        if sig.stopped:  # a signal during teardown (no raise there) still interrupts
            raise Interrupted(sig.name)
        if before_checks is not None:
            before_checks()
        passed, report = evaluate_checks(run, experiment, link_state)
        sig.raise_now = False
        if sig.stopped:
            raise Interrupted(sig.name)
        result.checks = report
        broken = [*sched.errors, *heal_errors, *teardown_errors]
        if broken:
            result.error = "the run did not go as scheduled: " + "; ".join(broken)
            result.exit_code = EXIT_BROKEN
        else:
            result.exit_code = EXIT_OK if passed else EXIT_BOUND_FAILED
    except Interrupted:
        result.interrupted = True
        result.error = f"interrupted by {sig.name or 'a signal'}" + (
            f" (phase: {sig.landed_in})" if sig.landed_in else ""
        )
        result.exit_code = EXIT_BROKEN
    except Exception as e:
        if results_full(run.path) and not isinstance(e, OSError):
            e = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run.path))
        result.error = describe_error(e, run.path)
        result.exit_code = EXIT_BROKEN
        _best_effort(lambda: run.write_text("error.txt", traceback.format_exc()))
    finally:
        sig.raise_now = False
        if nodes_watch is not None:  # before teardown stops the nodes
            nodes_watch.stop()
        if engine_watch is not None:
            engine_watch.stop()
        # Guaranteed teardown, in order: stop injecting, stop the load, heal, stop processes.
        try:
            if roles is not None:
                roles.stop()
            if sched is not None:
                sched.stop(5)
            if load is not None and load.alive():
                load.stop_within(0.5 if sig.count >= 2 else LOAD_STOP_BOUND_S)
            if cluster is not None:
                teardown_errors += cluster.down("teardown")
                result.teardown = cluster.teardown
        except Exception as e:  # never let cleanup hide the first error
            teardown_errors.append(f"teardown: {e}")
        if watch is not None:
            watch.stop()

        if metrics is not None:
            try:
                metrics.stop()
            except Exception:
                pass
        progress.stop()
        # The results directory may be the broken part (a full disk): nothing written
        # from here on may raise. INCOMPLETE exists from the start and stays unless
        # the run finished, so a write that fails leaves the run marked incomplete.
        if result.error is not None:
            _best_effort(
                lambda: events.emit(
                    "run-end", ok=False, error=result.error, teardown_errors=teardown_errors
                )
            )
        _best_effort(events.close)
        for name in ("history.jsonl", "events.jsonl"):
            if trim_partial_record(run.file(name)):
                teardown_errors.append(f"{name}: a partial last record was cut (disk full?)")
        if install_signals:
            sig.restore()
        if result.exit_code in (EXIT_OK, EXIT_BOUND_FAILED) and not teardown_errors:
            run.finish()
        else:
            _best_effort(
                lambda: run.mark_incomplete(
                    (result.error or "the run did not finish")
                    + ("\nteardown: " + "; ".join(teardown_errors) if teardown_errors else "")
                )
            )
            if result.exit_code in (EXIT_OK, EXIT_BOUND_FAILED):
                result.exit_code = EXIT_BROKEN
    return result
