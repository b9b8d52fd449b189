"""The Locust process: `python -m chaoskit.load.runner --plan plan.json [--role ...]`.

Locust monkey-patches the process with gevent when imported, so this module runs
only in its own process(es), started by `chaoskit.load.control.start_load` (or by
hand on another machine for a remote worker, see docs/load.md).

Roles:
  local   users and history writer in this one process (plan.workers == 0)
  master  Locust's master: no users; receives worker histories, writes the one
          history.jsonl and the CSVs
  worker  Locust's worker: runs users, ships its records to the master
"""

from __future__ import annotations

# isort: off
# Locust first: importing it monkey-patches sockets, threads and time for gevent,
# which must happen before anything else creates a socket or a lock.
import locust  # noqa: F401
# isort: on

import argparse
import csv
import ipaddress
import json
import logging
import os
import random
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from gevent.monkey import get_original
from locust import User, constant, constant_throughput, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsCSVFileWriter, stats_history

from chaoskit.atomic import atomic_write_text
from chaoskit.load.clients import adapter_class, client_node, make_client
from chaoskit.load.history import (
    FLUSH_S,
    STOPPED_IN_FLIGHT,
    HistoryFile,
    Recorder,
    read_records,
    rewrite_normalized,
)
from chaoskit.load.plan import LoadPlan, PlanError
from chaoskit.load.workloads import UniqueValues, Workload
from chaoskit.systems.base import is_cas_mismatch

log = logging.getLogger("chaoskit.load")

# The history's locks: the OS lock gevent's patching replaced. Holding one never
# yields (recording and writing the file do no cooperative I/O), so no greenlet can
# wait on another's lock, and it costs a fraction of gevent's lock per record.
_native_lock = get_original("_thread", "allocate_lock")

SHIP_INTERVAL_S = 0.2  # how often a worker ships its records to the master
CLOCK_ROUNDS = 8  # request/reply rounds a remote worker uses to find its clock offset


class LoadContext:
    """Everything the users of this process share (one per process)."""

    def __init__(self, plan: LoadPlan, recorder: Recorder | None) -> None:
        self.plan = plan
        self.recorder = recorder
        self.adapter = adapter_class(plan.system_kind)(plan.system_options)
        self.values = UniqueValues()
        self.clock_ready = Event()
        self.clock_ready.set()
        # how a user reports a problem that makes the run meaningless (set per role)
        self.report_fatal = _fatal


CTX: LoadContext | None = None
STOP = Event()  # set by SIGTERM/SIGINT or a fatal problem: the load ends early
FATAL: list[str] = []  # problems that make the load process exit with code 3
RUN_CPU_S: list[tuple[float, float]] = []  # (user, system) CPU seconds while users ran


def _fatal(message: str) -> None:
    log.error("%s", message)
    FATAL.append(message)
    STOP.set()


class RegionUser(User):
    """One load client placed in `region`; subclassed once per region."""

    abstract = True
    region = ""

    def on_start(self) -> None:
        ctx = CTX
        assert ctx is not None and ctx.recorder is not None
        # A remote worker must know its clock offset before its first record.
        ctx.clock_ready.wait(timeout=10)
        self.ctx = ctx
        self.rec = ctx.recorder
        self.process = self.rec.new_process()
        try:
            self.sysclient = make_client(ctx.plan, self.region, ctx.adapter)
        except Exception as e:
            # a user without a client would silently not load its region: end the run loudly
            ctx.report_fatal(
                f"region {self.region}: cannot make a {ctx.plan.system_kind} client: {e!r}"
            )
            raise StopUser() from e
        rng = random.Random(f"{ctx.plan.workload.seed}:{self.region}:{self.process}")
        self.workload = Workload(ctx.plan.workload, ctx.values, rng)

    def on_stop(self) -> None:
        c = getattr(self, "sysclient", None)
        if c is not None:
            try:
                c.close()
            except Exception:  # closing is best effort; the run is over for this user
                pass

    @task
    def operate(self) -> None:
        f, key, value = self.workload.next_op()
        rec, region = self.rec, self.region
        node = client_node(self.sysclient)
        invoked = rec.invoke(self.process, f, key, value, region, node)["time"]
        stopped: BaseException | None = None
        try:
            out = self.sysclient.invoke(f, key, value)
            typ, val, err = out.type, out.value, out.error
            if typ not in ("ok", "fail", "info"):
                typ, val, err = "info", None, f"client returned outcome type {typ!r}"
        except Exception as e:  # a client bug: the request may have been sent
            typ, val, err = "info", None, f"client raised {type(e).__name__}: {e}"
        except BaseException as e:  # GreenletExit: Locust stopped this user mid-operation
            typ, val, err, stopped = "info", None, f"{STOPPED_IN_FLIGHT} ({type(e).__name__})", e
        done = rec.complete(self.process, typ, val, err, node=client_node(self.sysclient))
        elapsed_ms = (done["time"] - invoked) / 1e6  # Locust's response time: between the records
        if typ == "info":
            self.process = rec.new_process()  # Jepsen's rule: the old op may still be in flight
        self.environment.events.request.fire(
            request_type=f,
            name=f"{region} {f}",
            response_time=elapsed_ms,
            response_length=0,
            exception=None
            if typ == "ok" or is_cas_mismatch(err)
            else RuntimeError(f"{typ}: {err or ''}"),
            context={"region": region},
        )
        if stopped is not None:
            raise stopped
        self.workload.observe(f, key, typ, val if f == "read" else value)


def user_classes(plan: LoadPlan) -> list[type[User]]:
    classes: list[type[User]] = []
    for region, n in plan.users.items():
        if n <= 0:
            continue
        rate = plan.region_rate(region)
        wait = constant_throughput(rate / n) if rate else constant(0)
        name = "Region_" + "".join(c if c.isalnum() else "_" for c in region)
        while name in {c.__name__ for c in classes}:  # Locust needs unique class names
            name += "_"
        cls = type(
            name,
            (RegionUser,),
            {"region": region, "fixed_count": n, "wait_time": wait, "abstract": False},
        )
        classes.append(cls)
    return classes


# -- CSVs --------------------------------------------------------------------------


class CsvOutput:
    """Locust's own CSVs in out_dir: written live, rewritten atomically at the end."""

    def __init__(self, env: Environment, out_dir: Path) -> None:
        self.env = env
        self.base = str(Path(out_dir) / "locust")
        self.writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, self.base, full_history=True)
        self.greenlets = [
            gevent.spawn(self.writer.stats_writer),
            gevent.spawn(stats_history, env.runner),
        ]

    def finish(self) -> None:
        for g in self.greenlets:
            g.kill(block=True)
        self.writer.close_files()
        final = StatsCSV(self.env, PERCENTILES_TO_REPORT)
        for suffix, fn in (
            ("_stats.csv", final.requests_csv),
            ("_failures.csv", final.failures_csv),
            ("_exceptions.csv", final.exceptions_csv),
        ):
            rows: list[list[Any]] = []
            fn(_ListWriter(rows))
            path = Path(self.base + suffix)
            import io

            buf = io.StringIO()
            csv.writer(buf).writerows(rows)
            atomic_write_text(path, buf.getvalue())


class _ListWriter:
    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows

    def writerow(self, columns: Any) -> None:
        self.rows.append(list(columns))


# -- shared pieces -------------------------------------------------------------------


def _stop_event() -> Event:
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, STOP.set)
    return STOP


def _start_web_ui(env: Environment, plan: LoadPlan) -> dict[str, Any]:
    """Locust's web UI for game days (plan.web_ui); returns {"web_port": N} once listening."""
    cfg = plan.web_ui
    if not cfg:
        return {}
    import base64
    import hmac
    import importlib

    from flask import Response, request

    if env.parsed_options is None:
        # the web UI reads Locust's options; without these it would parse OUR argv
        from locust import argument_parser

        parser = argument_parser.get_empty_argument_parser()
        argument_parser.setup_parser_arguments(parser)
        env.parsed_options = parser.parse_args(args=[])
    ui = env.create_web_ui(
        host=cfg.get("host", "127.0.0.1"), port=int(cfg.get("port", 8089)), delayed_start=True
    )
    if cfg.get("auth"):
        # HTTP basic auth in front of every route (Locust's own login needs an auth plugin)
        expected = "Basic " + base64.b64encode(str(cfg["auth"]).encode()).decode()

        @ui.app.before_request
        def _auth() -> Response | None:
            if hmac.compare_digest(request.headers.get("Authorization", ""), expected):
                return None
            return Response(
                "authentication required\n", 401, {"WWW-Authenticate": 'Basic realm="chaoskit"'}
            )

    if cfg.get("extra"):
        mod, fn = str(cfg["extra"]).split(":", 1)
        # e.g. registers game-day routes on env.web_ui.app before it serves
        getattr(importlib.import_module(mod), fn)(env)
    ui.start()
    deadline = time.monotonic() + 10
    while getattr(ui, "server", None) is None or not ui.server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("Locust's web UI did not start listening")
        gevent.sleep(0.01)
    return {"web_port": ui.server.server_port, "web_host": ui.host}


def _keep_flushed(hist: HistoryFile) -> gevent.Greenlet:
    """history.jsonl at most FLUSH_S behind even when no record comes (users all waiting)."""

    def loop() -> None:
        while True:
            gevent.sleep(FLUSH_S)
            hist.flush()

    return gevent.spawn(loop)


def _run_for(
    env: Environment, plan: LoadPlan, stop: Event, ready_file: str | None, extra: dict
) -> float:
    """Spawn every user, run for the duration (or until told to stop); returns seconds run."""
    total = sum(n for n in plan.users.values() if n > 0)
    # everyone within ~1 s (Locust warns above 100/s)
    env.runner.start(total, spawn_rate=min(max(total, 1) * 20.0, 100.0))
    started = time.monotonic()
    if ready_file:
        atomic_write_text(
            Path(ready_file),
            json.dumps({"state": "spawning", "pid": os.getpid(), **extra}),
            durable=False,
        )
    cpu = os.times()
    stop.wait(timeout=plan.workload.duration_s)
    elapsed = time.monotonic() - started
    now = os.times()
    RUN_CPU_S.append((now.user - cpu.user, now.system - cpu.system))
    env.runner.stop()
    return elapsed


def _summary(plan: LoadPlan, elapsed: float, stopped_early: bool) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for r in read_records(plan.history_path):
        if r.get("phase") == "final" or r["type"] == "invoke":
            continue
        s = per.setdefault(r.get("region"), {"ok": 0, "fail": 0, "info": 0})
        s[r["type"]] += 1
    total = 0
    for s in per.values():
        s["ops"] = s["ok"] + s["fail"] + s["info"]
        s["ops_per_s"] = round(s["ops"] / elapsed, 2) if elapsed > 0 else 0.0
        total += s["ops"]
    return {
        "duration_s": round(elapsed, 3),
        "stopped_early": stopped_early,
        "fatal": list(FATAL),
        "ops": total,
        "ops_per_s": round(total / elapsed, 2) if elapsed > 0 else 0.0,
        # this process only (a master's workers are processes of their own)
        "cpu_s": round(sum(u + s for u, s in RUN_CPU_S), 3),
        "cpu_user_s": round(sum(u for u, _ in RUN_CPU_S), 3),
        "cpu_system_s": round(sum(s for _, s in RUN_CPU_S), 3),
        "requested_rate": plan.workload.rate,
        "requested_rate_per_region": {
            r: plan.region_rate(r) for r in plan.users if plan.users[r] > 0
        },
        "users": plan.users,
        "workers": plan.workers,
        "per_region": per,
    }


def _finish(
    env: Environment,
    plan: LoadPlan,
    csvs: CsvOutput,
    hist: HistoryFile,
    elapsed: float,
    stopped: bool,
    flusher: gevent.Greenlet,
) -> None:
    flusher.kill(block=True)
    hist.close()
    csvs.finish()
    rewrite_normalized(plan.history_path)
    summary = _summary(plan, elapsed, stopped)
    atomic_write_text(
        Path(plan.out_dir) / "load-summary.json", json.dumps(summary, indent=2) + "\n"
    )
    log.info(
        "load done: %s ops in %.1f s = %.1f ops/s", summary["ops"], elapsed, summary["ops_per_s"]
    )


# -- roles ---------------------------------------------------------------------------


def run_local(plan: LoadPlan, ready_file: str | None) -> int:
    global CTX
    plan.history_path.write_text("")  # a run starts a fresh history (never appends to an old one)
    hist = HistoryFile(plan.history_path, start_index=0, lock=_native_lock())
    flusher = _keep_flushed(hist)
    recorder = Recorder(hist.write, plan.t0_ns, lock=_native_lock())
    CTX = LoadContext(plan, recorder)
    env = Environment(
        user_classes=user_classes(plan), events=events, stop_timeout=plan.workload.timeout_s + 2
    )
    env.create_local_runner()
    stop = _stop_event()
    web = _start_web_ui(env, plan)
    csvs = CsvOutput(env, plan.out_dir)
    elapsed = _run_for(env, plan, stop, ready_file, web)
    recorder.close_in_flight()
    env.runner.quit()
    _finish(env, plan, csvs, hist, elapsed, stop.is_set(), flusher)
    return 3 if FATAL else 0


def run_master(plan: LoadPlan, ready_file: str | None, port_file: str | None) -> int:
    """Locust's master: hands the plan to workers, merges their histories into one file."""
    plan.history_path.write_text("")  # a run starts a fresh history (never appends to an old one)
    hist = HistoryFile(plan.history_path, start_index=0, lock=_native_lock())
    flusher = _keep_flushed(hist)
    env = Environment(
        user_classes=user_classes(plan), events=events, stop_timeout=plan.workload.timeout_s + 2
    )
    runner = env.create_master_runner(plan.master_bind_host, plan.master_port)
    port = runner.server.port
    expected = plan.workers + plan.remote_workers
    procs: dict[tuple[str, int], int] = {}  # (worker id, its process number) -> run-wide number
    planned: set[str] = set()  # workers that have the plan
    done: set[str] = set()  # workers whose history is complete

    def on_plan_request(environment: Environment, msg: Any) -> None:
        runner.send_message(
            "chaoskit-plan",
            {"plan": plan.to_dict(), "master_pid": os.getpid()},
            client_id=msg.node_id,
        )
        planned.add(msg.node_id)
        log.info("plan sent to worker %s (%s)", msg.node_id, msg.data)

    def on_history(environment: Environment, msg: Any) -> None:
        for rec in msg.data["records"]:
            k = (msg.node_id, rec["process"])
            if k not in procs:
                procs[k] = len(procs)
            rec["process"] = procs[k]
            hist.write(rec)
        if msg.data.get("done"):
            done.add(msg.node_id)

    def on_clock(environment: Environment, msg: Any) -> None:
        now = time.monotonic_ns() - plan.t0_ns
        runner.send_message(
            "chaoskit-clock", {"id": msg.data["id"], "t": now}, client_id=msg.node_id
        )

    runner.register_message("chaoskit-plan-request", on_plan_request)
    runner.register_message(
        "chaoskit-fatal", lambda environment, msg: _fatal(f"worker: {msg.data}")
    )
    runner.register_message("chaoskit-history", on_history)
    runner.register_message("chaoskit-clock", on_clock)
    stop = _stop_event()
    if port_file:
        atomic_write_text(
            Path(port_file), json.dumps({"port": port, "pid": os.getpid()}), durable=False
        )
    log.info(
        "master listening on %s:%d, waiting for %d workers (%d of them remote)",
        plan.master_bind_host,
        port,
        expected,
        plan.remote_workers,
    )
    deadline = time.monotonic() + plan.worker_wait_s

    def have_workers() -> bool:
        ready = {c.id for c in runner.clients.ready}
        return len(ready & planned) >= expected

    while not have_workers():
        if stop.is_set() or time.monotonic() > deadline:
            log.error(
                "only %d of %d workers connected within %.0f s",
                len(runner.clients.ready),
                expected,
                plan.worker_wait_s,
            )
            runner.quit()
            flusher.kill()
            hist.close()
            return 3
        gevent.sleep(0.05)
    web = _start_web_ui(env, plan)
    csvs = CsvOutput(env, plan.out_dir)
    elapsed = _run_for(env, plan, stop, ready_file, {"port": port, **web})
    # stop() returned: every worker reported client_stopped, which it sends only
    # after its final history batch (same connection, so in order).
    wait_until = time.monotonic() + 5
    while len(done) < len(runner.clients) and time.monotonic() < wait_until:
        gevent.sleep(0.05)
    if len(done) < len(runner.clients):
        log.warning("history of %d worker(s) may be incomplete", len(runner.clients) - len(done))
    # Locust forgets a worker once it reports stopped, so its own "quit" would not
    # reach it; remote workers would linger until their heartbeat timeout (60 s).
    for wid in planned:
        runner.send_message("chaoskit-quit", None, client_id=wid)
    runner.quit()
    _finish(env, plan, csvs, hist, elapsed, stop.is_set(), flusher)
    return 3 if FATAL else 0


def run_worker(master_host: str, master_port: int, clock: str, aliases: dict[str, str]) -> int:
    """Locust's worker: gets the plan from the master, runs users, ships records."""
    if clock == "auto":
        clock = "local" if _is_loopback(master_host) else "sync"
    env = Environment(user_classes=[], events=events)
    runner = env.create_worker_runner(master_host, master_port)  # returns once connected
    buf: list[dict[str, Any]] = []
    got_plan = Event()

    def ship(done: bool = False) -> None:
        if buf or done:
            batch = buf[:]
            del buf[:]
            runner.send_message("chaoskit-history", {"records": batch, "done": done})

    def on_plan(environment: Environment, msg: Any) -> None:
        # Everything the users need is set up HERE, in the message loop: the master's
        # spawn message follows this reply on the same connection and is handled next,
        # possibly before the main greenlet runs again.
        global CTX
        plan = LoadPlan.from_dict(msg.data["plan"])
        plan.views = alias_views(plan.views, aliases)
        recorder = Recorder(buf.append, plan.t0_ns, lock=_native_lock())
        ctx = LoadContext(plan, recorder)
        ctx.report_fatal = lambda m: (log.error("%s", m), runner.send_message("chaoskit-fatal", m))
        # unique written values across workers: interleave by the master-given index
        ctx.values = UniqueValues(
            slot=max(runner.worker_index, 0), stride=max(plan.workers + plan.remote_workers, 1)
        )
        if clock == "sync":
            ctx.clock_ready.clear()  # users wait for the offset before their first record
            gevent.spawn(_sync_clock, runner, recorder, ctx)
        elif msg.data.get("master_pid"):
            gevent.spawn(_exit_with_master, msg.data["master_pid"])
        CTX = ctx
        env.user_classes = user_classes(plan)
        got_plan.set()

    @events.test_stop.add_listener
    def _on_stop(environment: Environment, **_: Any) -> None:
        if CTX is not None and CTX.recorder is not None:
            CTX.recorder.close_in_flight()
        ship(done=True)  # before Locust's client_stopped: the master waits for that

    def shipper() -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL_S)
            ship()

    runner.register_message("chaoskit-plan", on_plan)
    runner.register_message("chaoskit-quit", lambda environment, msg: runner.quit())
    gevent.spawn(shipper)
    runner.send_message("chaoskit-plan-request", {"host": socket.gethostname(), "pid": os.getpid()})
    if not got_plan.wait(timeout=60):
        log.error("no plan from the master at %s:%d within 60 s", master_host, master_port)
        return 3
    runner.greenlet.join()
    return 0


def _watch_parent(parent: int) -> None:
    """The load runs in its own session, so an engine killed with SIGKILL would leave it
    running to the end of its duration: when the engine is gone, stop as on SIGTERM."""
    while True:
        gevent.sleep(0.5)
        if os.getppid() != parent:
            log.error("the process that started the load (pid %d) is gone: stopping", parent)
            STOP.set()
            return


def _exit_with_master(pid: int) -> None:
    """A worker on the master's machine ends when the master is gone (even if killed):
    Locust's own heartbeat would keep it waiting for 60 s."""
    while True:
        gevent.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("the master (pid %d) is gone; this worker ends", pid)
            os._exit(4)
        except PermissionError:
            pass


def alias_views(views: dict[str, dict[str, dict[str, str]]], aliases: dict[str, str]) -> dict:
    """Replace hosts in "host:port" addresses (a remote worker reaching the nodes differently)."""
    if not aliases:
        return views
    out: dict[str, dict[str, dict[str, str]]] = {}
    for region, nodes in views.items():
        out[region] = {}
        for node, ports in nodes.items():
            out[region][node] = {}
            for port, addr in ports.items():
                host, _, p = addr.rpartition(":")
                out[region][node][port] = f"{aliases.get(host, host)}:{p}"
    return out


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _sync_clock(runner: Any, recorder: Recorder, ctx: LoadContext) -> None:
    """Cristian's algorithm over Locust's own channel: offset from the best round trip."""
    replies: dict[int, tuple[int, int]] = {}
    got = Event()

    def on_reply(environment: Environment, msg: Any) -> None:
        replies[msg.data["id"]] = (msg.data["t"], time.monotonic_ns())
        got.set()

    runner.register_message("chaoskit-clock", on_reply)
    best: tuple[int, int] | None = None  # (rtt, offset)
    for i in range(CLOCK_ROUNDS):
        got.clear()
        sent = time.monotonic_ns()
        runner.send_message("chaoskit-clock", {"id": i})
        got.wait(timeout=2)
        if i in replies:
            master_t, recv = replies[i]
            rtt = recv - sent
            # master time (since t0) at our `recv` ~ master_t + rtt/2
            offset = master_t + rtt // 2 - recv  # local monotonic + offset = time since t0
            if best is None or rtt < best[0]:
                best = (rtt, offset)
    if best is None:
        log.error("no clock reply from the master; using this machine's clock with t0 as given")
    else:
        # Recorder.now() = clock + offset_ns - t0_ns; make that equal local + offset
        recorder.offset_ns = best[1] + recorder.t0_ns
        log.info("clock offset to master found with round trip %.2f ms", best[0] / 1e6)
    ctx.clock_ready.set()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m chaoskit.load.runner", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--plan", help="load plan JSON (local and master; workers get it from the master)"
    )
    ap.add_argument("--role", choices=("local", "master", "worker"), default=None)
    ap.add_argument("--master-host", default="127.0.0.1", help="worker: the master's address")
    ap.add_argument("--master-port", type=int, default=None, help="worker: the master's port")
    ap.add_argument(
        "--clock",
        choices=("auto", "local", "sync"),
        default="auto",
        help="worker: 'local' = same machine as the engine (shared CLOCK_MONOTONIC); "
        "'sync' = another machine, measure the offset to the master's clock; "
        "'auto' (default) = local when --master-host is a loopback address",
    )
    ap.add_argument(
        "--host-alias",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="worker: reach node addresses on host OLD at host NEW instead (repeatable)",
    )
    ap.add_argument("--ready-file", default=None, help="written once users are spawning")
    ap.add_argument("--port-file", default=None, help="master: written with the port it listens on")
    ap.add_argument(
        "--watch-parent",
        action="store_true",
        help="stop (gracefully) when the process that started this one is gone",
    )
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args(argv)
    # Locust's web UI parses sys.argv as ITS options on every page load: leave it ours no more
    sys.argv = sys.argv[:1]
    logging.basicConfig(
        level=a.log_level,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if a.role == "worker":
        if a.master_port is None:
            ap.error("--role worker needs --master-port")
        aliases = {}
        for item in a.host_alias:
            old, sep, new = item.partition("=")
            if not sep or not old or not new:
                ap.error(f"--host-alias {item!r}: expected OLD=NEW")
            aliases[old] = new
        return run_worker(a.master_host, a.master_port, a.clock, aliases)
    if not a.plan:
        ap.error(f"--role {a.role or 'local/master'} needs --plan")
    try:
        plan = LoadPlan.read(Path(a.plan))
        plan.validate()
    except PlanError as e:
        ap.error(str(e) if str(e).startswith(a.plan) else f"{a.plan}: {e}")
    role = a.role or ("master" if plan.workers + plan.remote_workers else "local")
    if a.watch_parent:
        gevent.spawn(_watch_parent, os.getppid())
    if role == "local":
        return run_local(plan, a.ready_file)
    return run_master(plan, a.ready_file, a.port_file)


if __name__ == "__main__":
    sys.exit(main())
