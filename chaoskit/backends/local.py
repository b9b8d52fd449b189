"""The local backend: every node is a process on loopback, the links are one
link-server process (``python -m chaoskit.links``).

- Each node runs in its own process group (``start_new_session``) so signals reach
  the node and anything it spawned, and a Ctrl-C in the terminal does not reach it
  before the engine has healed the faults.
- Each node logs (stdout+stderr) to ``<run_dir>/logs/<node>.log``; the link server
  to ``<run_dir>/links.log``.
- Stopping escalates SIGTERM -> SIGKILL after a grace period: a member whose peers
  are gone may ignore SIGTERM (etcd did for over 5 s here), so nothing here waits
  unbounded.
- A pid registry survives a crashed harness: ``/tmp/chaoskit-local/<run-id>/``
  holds ``owner.json`` (the harness process) and ``pids/<name>.json`` per child
  (pid + kernel start time, so a recycled pid is never killed by mistake).
  :func:`cleanup_local_leftovers` (used by ``chaoskit clean``) kills the children
  of runs whose owner is gone.
- Clock skew: a node started with ``NodeSpec.faketime`` runs under libfaketime
  (LD_PRELOAD) reading ``FAKETIME_TIMESTAMP_FILE`` (re-read on every call thanks to
  ``FAKETIME_NO_CACHE=1``); :meth:`LocalBackend.set_clock_offset` rewrites that file
  atomically. ``DONT_FAKE_MONOTONIC`` is deliberately not set: with it Python's
  ``time.sleep`` fails with EINVAL under this libfaketime.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from chaoskit.atomic import atomic_write_text
from chaoskit.backends.base import Backend, NodeSpec, NodeStatus
from chaoskit.backends.clockrate import REAL_TIME, drift_spec
from chaoskit.backends.diskfault import diskfault_env, shim_path
from chaoskit.backends.faketime import find_libfaketime, missing_message
from chaoskit.backends.teardown import Teardown, TeardownReport
from chaoskit.procgroup import killpg_quiet
from chaoskit.topology.model import AddressPlan, Topology
from chaoskit.units import format_offset

REGISTRY_ROOT = Path(os.environ.get("CHAOSKIT_LOCAL_REGISTRY", "/tmp/chaoskit-local"))


def _proc_start_time(pid: int) -> int | None:
    """Kernel start time of `pid` (field 22 of /proc/pid/stat), None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = raw.rsplit(")", 1)[1].split()
    return int(rest[19])


def _same_process(pid: int, start_time: int | None) -> bool:
    st = _proc_start_time(pid)
    return st is not None and (start_time is None or st == start_time)


def _is_zombie(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return raw.rsplit(")", 1)[1].split()[0] == "Z"


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except FileNotFoundError:
        return "(no log file)"


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    start_time: int | None
    log_path: Path
    paused: bool = False


class StartError(RuntimeError):
    """A process did not start or become ready; the message names it and shows its log tail."""


class LocalBackend(Backend):
    name = "local"

    def __init__(
        self,
        run_dir: Path,
        run_id: str | None = None,
        python: str | None = None,
        host: str = "127.0.0.1",
        links_ready_s: float = 15.0,
        registry_root: Path | None = None,
        keep_data: bool = False,
        links_url: str | None = None,
        faketime_root: str | Path | None = None,
    ) -> None:
        # absolute: a node runs in its data directory, so a relative results root
        # (`--results results`, the default) would name another place from there
        self.run_dir = Path(run_dir).absolute()
        self.run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
        self.python = python or sys.executable
        self.host = host
        self.links_ready_s = links_ready_s
        self.registry = Path(registry_root or REGISTRY_ROOT) / self.run_id
        # An already running Toxiproxy (or chaoskit link server) to use instead of
        # starting our own (experiment `links: {server: toxiproxy, url: ...}`).
        self.links_url = links_url
        self.keep_data = keep_data  # node data dirs are removed by down() unless kept
        self.hurry = False  # set by the engine on a second Ctrl-C: no grace periods
        self._lock = threading.RLock()
        self._nodes: dict[str, _Proc] = {}
        self._links: _Proc | None = None
        self._clock_files: dict[str, Path] = {}
        # Where libfaketime is looked for (default /usr/lib): chaoskit.backends.faketime.
        self.faketime_root = faketime_root
        self._faketime_lib = find_libfaketime(faketime_root)
        self.api_url: str | None = None
        self.plan_: AddressPlan | None = None

    # -- planning -------------------------------------------------------------------

    def plan(self, topology: Topology, ports: tuple[str, ...]) -> AddressPlan:
        from chaoskit.topology.plan import local_plan

        return local_plan(topology, ports, host=self.host)

    # -- registry -------------------------------------------------------------------

    def _register(self, proc: _Proc) -> None:
        rec = {
            "name": proc.name,
            "pid": proc.popen.pid,
            "start_time": proc.start_time,
            "argv": proc.popen.args
            if isinstance(proc.popen.args, list)
            else [str(proc.popen.args)],
            "run_dir": str(self.run_dir),
        }
        for d in (self.registry / "pids", self.run_dir / "pids"):
            atomic_write_text(d / f"{proc.name}.json", json.dumps(rec), durable=False)

    def _unregister(self, name: str) -> None:
        for d in (self.registry / "pids", self.run_dir / "pids"):
            try:
                (d / f"{name}.json").unlink()
            except FileNotFoundError:
                pass

    def adopt(self, name: str, pid: int) -> None:
        """Put a process we did not start (the Locust load) in the pid registry, so
        `chaoskit clean` finds it if this harness dies. Its owner still stops it."""
        rec = {
            "name": name,
            "pid": pid,
            "start_time": _proc_start_time(pid),
            "argv": [],
            "run_dir": str(self.run_dir),
        }
        atomic_write_text(self.registry / "pids" / f"{name}.json", json.dumps(rec), durable=False)

    def _write_owner(self) -> None:
        me = os.getpid()
        owner = {"pid": me, "start_time": _proc_start_time(me), "run_dir": str(self.run_dir)}
        atomic_write_text(self.registry / "owner.json", json.dumps(owner), durable=False)

    # -- processes ------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path
    ) -> _Proc:
        """Start a process and record it (in memory and in the pid registry) before a
        Ctrl-C can interrupt us: the engine's SIGINT handler raises in the main thread,
        and a process started but not yet recorded would be left behind."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        blocked = {signal.SIGINT, signal.SIGTERM}
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            with open(log_path, "ab") as log:
                log.write(f"--- chaoskit: starting {name}: {' '.join(argv)}\n".encode())
                log.flush()
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=str(cwd),
                    start_new_session=True,  # own process group: signals reach its children too
                    # the child must not inherit our blocked signals (SIGTERM would be ignored)
                    preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, old_mask),
                )
            proc = _Proc(
                name=name, popen=popen, start_time=_proc_start_time(popen.pid), log_path=log_path
            )
            if name == "links":
                self._links = proc
            else:
                self._nodes[name] = proc
            self._register(proc)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return proc

    def _terminate(self, proc: _Proc, grace_s: float) -> None:
        """SIGTERM the group, SIGKILL after grace_s; reap. Never hangs."""
        p = proc.popen
        pgid = p.pid
        if p.poll() is None:
            if self.hurry:
                grace_s = 0.0
            if grace_s > 0:
                killpg_quiet(pgid, signal.SIGTERM)
                if proc.paused:  # a stopped process only acts on SIGTERM once continued
                    killpg_quiet(pgid, signal.SIGCONT)
                try:
                    p.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    pass
            if p.poll() is None:
                killpg_quiet(pgid, signal.SIGKILL)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:  # pragma: no cover - kernel trouble
                    pass
        # Anything else left in the group (a node's own children) goes too.
        killpg_quiet(pgid, signal.SIGKILL)
        proc.paused = False
        self._unregister(proc.name)

    def up(self, topology: Topology, plan: AddressPlan) -> str:
        self.plan_ = plan
        atexit.register(self._down_at_exit)  # an interrupted harness still stops its own
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self._write_owner()
        if self.links_url:
            self.api_url = self.links_url.rstrip("/")
            return self.api_url
        port_file = self.registry / "links.port"
        try:
            port_file.unlink()
        except FileNotFoundError:
            pass
        argv = [
            self.python,
            "-m",
            "chaoskit.links",
            "--host",
            self.host,
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ]
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with self._lock:
            self._spawn("links", argv, env, self.run_dir / "links.log", self.run_dir)
        deadline = time.monotonic() + self.links_ready_s
        while time.monotonic() < deadline:
            if port_file.exists():
                text = port_file.read_text().strip()
                if text.isdigit():
                    self.api_url = f"http://{self.host}:{int(text)}"
                    return self.api_url
            if self._links.popen.poll() is not None:
                raise StartError(
                    f"the link server exited with code {self._links.popen.returncode} before listening; "
                    f"last lines of {self._links.log_path}:\n{tail(self._links.log_path)}"
                )
            time.sleep(0.02)
        raise StartError(
            f"the link server did not write its port within {self.links_ready_s:.0f} s; "
            f"last lines of {self._links.log_path}:\n{tail(self._links.log_path)}"
        )

    def clock_skew_available(self) -> bool:
        return self._faketime_lib is not None

    def node_log(self, node: str) -> Path:
        return self.run_dir / "logs" / f"{node}.log"

    def data_dir(self, node: str) -> Path:
        return self.run_dir / "data" / node

    def host_data_dir(self, node: str) -> Path:
        return self.data_dir(node)

    def clock_file(self, node: str) -> Path:
        return self.registry / "clock" / f"{node}.faketime"

    def start_node(self, node: str, spec: NodeSpec) -> None:
        with self._lock:
            old = self._nodes.get(node)
            if old is not None and old.popen.poll() is None:
                raise RuntimeError(f"node {node} is already running (pid {old.popen.pid})")
            data_dir = self.data_dir(node)
            self.prepare_data_dir(data_dir, spec.clean_data)

            def subst(s: str) -> str:
                return s.replace("{data_dir}", str(data_dir))

            argv = [subst(a) for a in spec.argv]
            if argv and argv[0] in ("python3", "python"):
                argv[0] = self.python
            env = dict(os.environ)
            env.setdefault("PYTHONUNBUFFERED", "1")
            env.update({k: subst(v) for k, v in spec.env.items()})
            if spec.faketime:
                if self._faketime_lib is None:
                    raise StartError(
                        f"node {node} was asked to run under libfaketime: "
                        + missing_message(self.faketime_root)
                    )
                cf = self.clock_file(node)
                if node not in self._clock_files:
                    self._write_clock(cf, "+0")
                self._clock_files[node] = cf
                env["LD_PRELOAD"] = ":".join(
                    x for x in (env.get("LD_PRELOAD", ""), self._faketime_lib) if x
                )
                env["FAKETIME_TIMESTAMP_FILE"] = str(cf)
                env["FAKETIME_NO_CACHE"] = "1"
                env.pop("DONT_FAKE_MONOTONIC", None)
            if self.disk_faults:
                env |= diskfault_env(
                    env.get("LD_PRELOAD", ""),
                    self.disk_control(node),
                    data_dir,
                    str(self._readable_shim()),
                )
            proc = self._spawn(node, argv, env, self.node_log(node), data_dir)
        # A node that dies at once (bad argv, port in use) is reported here, with its log.
        time.sleep(0.02)
        if proc.popen.poll() is not None:
            raise StartError(
                self.describe_failure(node, f"exited with code {proc.popen.returncode}")
            )

    def describe_failure(self, node: str, what: str) -> str:
        proc = self._nodes.get(node)
        log = proc.log_path if proc else self.node_log(node)
        state = ""
        if proc is not None and proc.popen.poll() is not None:
            state = f" (process exited with code {proc.popen.returncode})"
        return f"node {node} {what}{state}; last lines of {log}:\n{tail(log)}"

    def _proc(self, node: str) -> _Proc:
        try:
            return self._nodes[node]
        except KeyError:
            raise KeyError(f"node {node} was never started by this backend") from None

    def stop_node(self, node: str, grace_s: float = 5.0) -> None:
        with self._lock:
            self._terminate(self._proc(node), grace_s)

    def kill_node(self, node: str) -> None:
        with self._lock:
            self._terminate(self._proc(node), 0.0)

    def pause_node(self, node: str) -> None:
        with self._lock:
            proc = self._proc(node)
            if proc.popen.poll() is None:
                killpg_quiet(proc.popen.pid, signal.SIGSTOP)
                proc.paused = True

    def resume_node(self, node: str) -> None:
        with self._lock:
            proc = self._proc(node)
            if proc.popen.poll() is None:
                killpg_quiet(proc.popen.pid, signal.SIGCONT)
            proc.paused = False

    def is_running(self, node: str) -> bool:
        proc = self._nodes.get(node)
        return proc is not None and proc.popen.poll() is None

    def node_status(self, node: str) -> NodeStatus | None:
        proc = self._nodes.get(node)
        code = None if proc is None else proc.popen.poll()
        if proc is None or code is None:
            return NodeStatus(proc is not None)
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return NodeStatus(False, exit_code=code, signal=name)
        return NodeStatus(False, exit_code=code)

    def pid(self, node: str) -> int | None:
        proc = self._nodes.get(node)
        return proc.popen.pid if proc is not None and proc.popen.poll() is None else None

    def pids(self) -> dict[str, int]:
        """Every live process this backend started (nodes and the link server)."""
        out = {n: p.popen.pid for n, p in self._nodes.items() if p.popen.poll() is None}
        if self._links is not None and self._links.popen.poll() is None:
            out["links"] = self._links.popen.pid
        return out

    @staticmethod
    def _write_clock(path: Path, text: str) -> None:
        # libfaketime re-reads the file: never let it see half a line
        atomic_write_text(path, text + "\n", durable=False)

    def set_clock_offset(self, node: str, offset_ms: float | None) -> None:
        cf = self._clock_files.get(node)
        if cf is None:
            raise RuntimeError(
                f"node {node} was not started under libfaketime (its NodeSpec.faketime is false), "
                "so its clock cannot be skewed"
            )
        self._write_clock(cf, format_offset(offset_ms))

    def set_clock_rate(self, node: str, offset_ms: float, rate: float) -> None:
        """From now on the node's clock reads real time + offset_ms and runs at `rate`
        (1.0: real speed; see chaoskit.backends.clockrate)."""
        cf = self._clock_files.get(node)
        proc = self._nodes.get(node)
        if cf is None or proc is None or proc.popen.poll() is not None:
            raise RuntimeError(f"node {node} is not running under libfaketime")
        spec = (
            REAL_TIME
            if rate == 1.0 and not offset_ms
            else drift_spec(proc.popen.pid, offset_ms, rate)
        )
        self._write_clock(cf, spec)

    def _readable_shim(self) -> Path:
        """The disk-fault shim copied into the run's registry, where a node that runs as
        another user (PostgreSQL as `postgres`) can load it: the build cache is in the
        harness user's home, which other users cannot enter (ld.so then ignores the
        preload and the node runs without the shim)."""
        path = self.registry / "diskfault.so"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            shutil.copyfile(shim_path(), tmp)
            tmp.chmod(0o755)
            os.replace(tmp, path)
        return path

    def disk_control(self, node: str) -> Path:
        return self.registry / "disk" / f"{node}.ctl"

    def set_disk_fault(self, node: str, control: str | None) -> None:
        """Switch the node's disk-fault shim (chaoskit.backends.diskfault): `control`
        is the control file's text, None = no fault."""
        if not self.disk_faults:
            raise RuntimeError("this backend was not started with disk_faults = True")
        path = self.disk_control(node)
        if control is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, control, durable=False)

    def set_clock_absolute(self, node: str, when: str) -> None:
        """Pin the node's clock to start at `when` ("2027-01-01 00:00:00") and run on from there."""
        cf = self._clock_files.get(node)
        if cf is None:
            raise RuntimeError(f"node {node} was not started under libfaketime")
        self._write_clock(cf, f"@{when}")

    def down(self) -> TeardownReport:
        """Stop every node (in parallel, SIGTERM -> SIGKILL) and the link server, each
        step within a deadline; the report names any process that survived (its
        registry entry is then kept, so `chaoskit clean --run ID` finds it)."""
        with contextlib.suppress(Exception):
            atexit.unregister(self._down_at_exit)
        td = Teardown(self.name, self.run_id, forced=self.hurry, on_force=self._hurry)
        with self._lock:
            procs = [p for p in self._nodes.values() if p.popen.poll() is None]
            td.step("stop nodes", lambda: self._stop_gracefully(procs), 5.0, optional=True)
            if self._links is not None and self._links.popen.poll() is None:
                procs.append(self._links)
            td.removals(
                {
                    f"process {p.name} (pid {p.popen.pid})": (
                        lambda p=p: self._terminate(p, 0.0 if self.hurry else 1.0)
                    )
                    for p in procs
                },
                15.0,
            )
            survivors = [p for p in procs if p.popen.poll() is None]
            if not survivors:
                shutil.rmtree(self.registry, ignore_errors=True)
                shutil.rmtree(self.run_dir / "pids", ignore_errors=True)
            if self.data_size_mb:  # a tmpfs keeps nothing: kept data would be empty
                td.step("unmount data", lambda: self.release_data_dirs(self.run_dir / "data"), 10.0)
            if not self.keep_data:
                td.step(
                    "remove data",
                    lambda: shutil.rmtree(self.run_dir / "data", ignore_errors=True),
                    30.0,
                )
        return td.finish()

    def _hurry(self) -> None:
        self.hurry = True

    def _down_at_exit(self) -> None:
        report = self.down()
        if not report.complete:
            sys.stderr.write(f"chaoskit: {report.summary()}\n")

    def _stop_gracefully(self, procs: list[_Proc]) -> None:
        """SIGTERM every group at once and give them a shared grace period."""
        for p in procs:
            if p.popen.poll() is None:
                killpg_quiet(p.popen.pid, signal.SIGTERM)
                if p.paused:
                    killpg_quiet(p.popen.pid, signal.SIGCONT)
        deadline = time.monotonic() + (0.0 if self.hurry else 2.0)
        for p in procs:
            try:
                p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def cleanup_local_leftovers(
    root: Path | None = None, force: bool = False, run_id: str | None = None
) -> list[str]:
    """Kill processes left behind by local runs whose harness is gone (of one run
    with `run_id`).

    Returns one line per process killed. A run whose owner process is still alive
    is left alone (another run on this machine), unless `force`.
    """
    root = Path(root or REGISTRY_ROOT)
    done: list[str] = []
    if not root.is_dir():
        return done
    for run in sorted(root.iterdir()):
        if not run.is_dir() or (run_id is not None and run.name != run_id):
            continue
        owner_alive = False
        try:
            owner = json.loads((run / "owner.json").read_text())
            owner_alive = _same_process(
                int(owner["pid"]), owner.get("start_time")
            ) and not _is_zombie(int(owner["pid"]))
        except (FileNotFoundError, ValueError, KeyError):
            pass
        if owner_alive and not force:
            continue
        for rec_path in sorted((run / "pids").glob("*.json")):
            try:
                rec = json.loads(rec_path.read_text())
                pid = int(rec["pid"])
            except (ValueError, KeyError, FileNotFoundError):
                continue
            if _same_process(pid, rec.get("start_time")):
                killpg_quiet(pid, signal.SIGKILL)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                done.append(f"{run.name}: killed {rec.get('name')} (pid {pid})")
        shutil.rmtree(run, ignore_errors=True)
    return done
