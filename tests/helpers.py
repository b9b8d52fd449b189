"""Helpers shared by test files of several rooms: process state from /proc, the
process tree below a pid, polling, and headless Chromium. Imported as `helpers`
(pytest puts tests/ on sys.path: the test files are flat, without __init__.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chaoskit.testing.procs import alive as alive
from chaoskit.testing.procs import descendants as descendants
from chaoskit.testing.procs import proc_state as proc_state

# The flags every headless run needs on this machine: no sandbox as root, no GPU,
# and no traffic of its own (updates, sync, QUIC) that would leave loopback.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")
# `--set`s that make experiments/smoke.yaml apply its fault at 1 s and hold it through
# a 60 s load: a run that stays in its middle until a test ends it.
HOLD_FAULT = (
    "--set",
    "load.duration=60s",
    "--set",
    "schedule.0.at=1s",
    "--set",
    "schedule.0.for=50s",
)


def run_events(run_dir: Path) -> list[dict]:
    """The complete lines of a run's events.jsonl ([] before the file exists)."""
    p = run_dir / "events.jsonl"
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip().endswith("}")]


def start_run(experiment: Path, results: Path, *args: str, **popen: Any) -> subprocess.Popen:
    """`chaoskit run EXPERIMENT ARGS... --results RESULTS --quiet`, output captured, in a
    session of its own: like a terminal, a signal sent to it reaches chaoskit alone."""
    return subprocess.Popen(
        [CHAOSKIT, "run", str(experiment), *args, "--results", str(results), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def wait_for_event(proc: subprocess.Popen, latest: Path, event: str, timeout: float = 60.0) -> Path:
    """The run directory behind `latest` once its events.jsonl holds `event`; an
    AssertionError if the run ends first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if latest.exists() and any(e["event"] == event for e in run_events(latest.resolve())):
            return latest.resolve()
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.2)
    raise AssertionError(f"no {event!r} event within {timeout:g} s")


def experiment_errors(tmp_path: Path, text: str) -> list:
    """The validation errors (chaoskit.experiment.ExperimentError.errors) of the
    experiment `text` (dedented) written to tmp_path/exp.yaml; [] when it loads."""
    from chaoskit.experiment import ExperimentError, load_experiment

    p = tmp_path / "exp.yaml"
    p.write_text(textwrap.dedent(text))
    try:
        load_experiment(p)
    except ExperimentError as e:
        return e.errors
    return []


# Three geokv (or `kind`) nodes in one region and one fault in the schedule, at line 8.
ONE_FAULT_EXP = """\
name: one-fault
topology:
  regions:
    beijing: {{zones: {{bj-dc1: 3}}}}
system: {{kind: {kind}}}
load: {{duration: 10s}}
schedule:
  - {{at: 1s, for: 2s, fault: {fault}}}
"""


def one_fault_errors(tmp_path: Path, fault: str, kind: str = "geokv") -> list:
    """The validation errors of ONE_FAULT_EXP with `fault` (flow-mapping text such as
    "clock-drift, target: beijing-1, rate: 1.5") on a system of `kind`."""
    return experiment_errors(tmp_path, ONE_FAULT_EXP.format(fault=fault, kind=kind))


def free_port() -> int:
    """A loopback port the OS just handed out and released: free for a server to
    take, and (until one does) a port where nothing listens. Never a fixed port:
    others test on this machine at the same time."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Poll `pred` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def chromium(
    target: str, profile: Path, *args: str, timeout: float = 90
) -> subprocess.CompletedProcess:
    """Run headless Chromium on `target` (a URL) with its own profile directory
    (under the test's tmp_path, so nothing is left behind); `args` add e.g.
    --screenshot=PATH, --dump-dom or --virtual-time-budget=MS."""
    cmd = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, target]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def cpu_load(workers: int = 2) -> Iterator[subprocess.Popen]:
    """Keep the machine busy while the block runs: `stress-ng --cpu N` (python busy
    loops where stress-ng is missing), in its own process group, killed on exit.
    Teardown paths are tested under it: a busy CI machine is where they are slow."""
    if shutil.which("stress-ng"):
        argv = ["stress-ng", "--cpu", str(workers), "--timeout", "600s", "--quiet"]
    else:
        code = (
            "import os, sys\n"
            f"for _ in range({workers} - 1):\n"
            "    if os.fork() == 0: break\n"
            "while True: pass\n"
        )
        argv = [sys.executable, "-c", code]
    p = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        yield p
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
