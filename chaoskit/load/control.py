"""The engine's side of the load: start the Locust process(es), wait, stop.

Runs in the engine's process and never imports Locust (it would monkey-patch the
engine with gevent). The Locust side is `python -m chaoskit.load.runner`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from chaoskit.load.history import rewrite_normalized
from chaoskit.load.plan import LoadPlan
from chaoskit.procgroup import killpg_quiet

STOP_GRACE_S = 15.0  # after SIGTERM: users finish their operation, histories merge, CSVs land
START_TIMEOUT_S = 60.0


class LoadError(RuntimeError):
    pass


class LoadRun:
    """Handle on a running load: the master (or local) process and its workers.

    Each runs in its own session and process group, killed as a group at the end,
    so nothing survives `stop()` even if a worker hangs.
    """

    def __init__(
        self,
        plan: LoadPlan,
        main: subprocess.Popen,
        workers: list[subprocess.Popen],
        log_path: Path,
    ) -> None:
        self.plan = plan
        self.history_path = plan.history_path
        self.log_path = log_path
        self._main = main
        self._workers = workers
        self._pgids = [main.pid] + [w.pid for w in workers]
        self._closed = False
        self._reap_lock = threading.Lock()
        # what the load process reported when users began spawning:
        # {"pid", "port" (master), "web_port"/"web_host" (with plan.web_ui)}
        self.info: dict = {}

    @property
    def pids(self) -> list[int]:
        return [self._main.pid] + [w.pid for w in self._workers]

    def alive(self) -> bool:
        return self._main.poll() is None

    def wait(self, timeout_s: float | None = None) -> int:
        """Wait until the load ends by itself (its duration); returns the exit code.

        Raises subprocess.TimeoutExpired when `timeout_s` passes first (the load keeps running).
        """
        if timeout_s is None:
            timeout_s = self.plan.workload.duration_s + STOP_GRACE_S + 60.0
        code = self._main.wait(timeout=timeout_s)
        self._reap()
        return code

    def stop(self) -> None:
        """Stop early and gracefully (flush, merge); idempotent; kills after a grace period."""
        if self._closed:
            return
        if self._main.poll() is None:
            try:
                self._main.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._main.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def stop_within(self, bound_s: float) -> None:
        """stop(), but never waiting longer than `bound_s`: then every load process group
        is killed (not through kill(): a hung stop() may hold the reap lock)."""
        t = threading.Thread(target=self.stop, daemon=True)
        t.start()
        t.join(bound_s)
        if t.is_alive():
            for pgid in self._pgids:
                killpg_quiet(pgid)
            t.join(5)

    def kill(self) -> None:
        """Kill every load process at once (no flush); idempotent."""
        for pgid in self._pgids:
            killpg_quiet(pgid)
        self._reap()

    def _reap(self) -> None:
        """The main process has ended: end the workers (their records are shipped) and the group."""
        with self._reap_lock:  # wait() and stop() may race from two engine threads
            self._reap_locked()

    def _reap_locked(self) -> None:
        if self._closed:
            return
        for w in self._workers:
            if w.poll() is None:
                w.terminate()
        deadline = time.monotonic() + 5
        for w in self._workers:
            try:
                w.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pgid in self._pgids:  # anything left in their groups
            killpg_quiet(pgid)
        for p in [self._main, *self._workers]:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._closed = True
        if self._main.returncode != 0:
            # the load process did not finish its own bookkeeping: keep the history
            # well formed (operations it left open are of unknown fate)
            now = time.monotonic_ns() - self.plan.t0_ns
            try:
                rewrite_normalized(
                    self.history_path,
                    f"load process ended abnormally (exit {self._main.returncode})",
                    now,
                )
            except (OSError, ValueError, KeyError):
                pass

    @property
    def returncode(self) -> int | None:
        return self._main.poll()

    @property
    def web_url(self) -> str | None:
        if "web_port" not in self.info:
            return None
        return f"http://{self.info.get('web_host') or '127.0.0.1'}:{self.info['web_port']}"

    def summary(self) -> dict | None:
        """load-summary.json (achieved rate per region) once the load has ended."""
        p = Path(self.plan.out_dir) / "load-summary.json"
        return json.loads(p.read_text()) if p.exists() else None


def _runner_cmd(plan_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "chaoskit.load.runner", "--plan", str(plan_path), *args]


def _worker_cmd(master_port: int) -> list[str]:
    # same machine: CLOCK_MONOTONIC is shared, so the plan's t0 is exact (no clock sync)
    return [
        sys.executable,
        "-m",
        "chaoskit.load.runner",
        "--role",
        "worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(master_port),
        "--clock",
        "local",
    ]


def _wait_file(
    path: Path, proc: subprocess.Popen, what: str, log_path: Path, timeout_s: float
) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise LoadError(
                f"the load process exited ({proc.returncode}) before {what}; log tail:\n{_tail(log_path)}"
            )
        time.sleep(0.02)
    raise LoadError(
        f"the load process did not report {what} within {timeout_s:.0f} s; log tail:\n{_tail(log_path)}"
    )


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def start_load(plan: LoadPlan) -> LoadRun:
    """Start the Locust process(es); return once users are spawning.

    Writes load-plan.json (the file a remote worker needs too), starts
    `python -m chaoskit.load.runner` and, with plan.workers = N, N local workers.
    Output goes to out_dir/load.log.
    """
    plan.validate()
    out = Path(plan.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan_path = out / "load-plan.json"
    plan.write(plan_path)
    plan.history_path.write_text("")  # a fresh history, there from the start for tailing
    ready = out / ".load-ready.json"
    port_file = out / ".load-port.json"
    for f in (ready, port_file):
        f.unlink(missing_ok=True)
    log_path = out / "load.log"
    log = open(log_path, "ab")
    workers: list[subprocess.Popen] = []
    main: subprocess.Popen | None = None
    try:
        distributed = plan.workers + plan.remote_workers > 0
        role = (
            ["--role", "master", "--port-file", str(port_file)]
            if distributed
            else ["--role", "local"]
        )
        main = subprocess.Popen(
            _runner_cmd(plan_path, *role, "--ready-file", str(ready), "--watch-parent"),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: the engine's Ctrl-C is the engine's to handle
        )
        if distributed:
            port = _wait_file(port_file, main, "its master port", log_path, START_TIMEOUT_S)["port"]
            for _ in range(plan.workers):
                workers.append(
                    subprocess.Popen(
                        _worker_cmd(port),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        run = LoadRun(plan, main, workers, log_path)
        wait_s = START_TIMEOUT_S + (plan.worker_wait_s if distributed else 0.0)
        run.info = _wait_file(ready, main, "spawning users", log_path, wait_s)
        ready.unlink(missing_ok=True)
        return run
    except BaseException:
        for p in [*workers, *([main] if main else [])]:
            killpg_quiet(p.pid)
        for p in [*workers, *([main] if main else [])]:
            if p.poll() is None:
                p.kill()
            p.wait()
        raise
    finally:
        log.close()  # the children hold their own descriptors
        port_file.unlink(missing_ok=True)
