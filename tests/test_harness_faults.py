"""Faults of the harness itself, on a real `chaoskit run` (local backend): a part
of chaoskit dies mid-run; the run notices within seconds, ends BROKEN (exit 3)
naming the reason, heals its faults and leaves nothing behind, with the results
marked INCOMPLETE."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    CHAOSKIT,
    HOLD_FAULT,
    alive,
    descendants,
    run_events,
    start_run,
    wait_for,
    wait_for_event,
)

ROOT = Path(__file__).resolve().parent.parent


SMOKE = ROOT / "experiments" / "smoke.yaml"


def _start_run(tmp_path: Path, **popen: object) -> tuple[subprocess.Popen, Path, Path]:
    results, registry = tmp_path / "results", tmp_path / "registry"
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry))
    proc = start_run(SMOKE, results, *HOLD_FAULT, env=env, **popen)
    try:
        return proc, wait_for_event(proc, results / "smoke" / "latest", "apply"), registry
    except AssertionError:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise


def _pid_of(registry: Path, name: str) -> int:
    (rec,) = [json.loads(p.read_text()) for p in registry.glob(f"*/pids/{name}.json")]
    return int(rec["pid"])


@pytest.mark.parametrize(
    ("victim", "reason"),
    [("links", "link server"), ("load-0", "load process failed")],
    ids=["link-server-killed", "locust-killed"],
)
def test_a_dead_part_of_the_harness_breaks_the_run_cleanly(
    victim: str, reason: str, tmp_path: Path
) -> None:
    proc, run_dir, registry = _start_run(tmp_path)
    try:
        kids = descendants(proc.pid)
        os.kill(_pid_of(registry, victim), signal.SIGKILL)
        t = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t
        assert proc.returncode == 3, (out, err)
        assert reason in err, err
        # noticed within seconds, not at the end of the 60 s load
        assert took < 30, f"the run went on for {took:.0f} s with a dead {victim}"

        events = run_events(run_dir)
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False
        assert reason in events[-1]["error"]
        applied = {e["id"] for e in events if e["event"] == "apply"}
        settled = {e["id"] for e in events if e["event"] in ("heal", "heal-failed")}
        assert applied and applied == settled, "every applied fault was healed (or said why not)"
        (teardown,) = [e for e in events if e["event"] == "teardown"]
        assert teardown["complete"], teardown
        assert reason in (run_dir / "INCOMPLETE").read_text()

        # a SIGKILLed process takes a moment to be gone on a busy machine
        wait_for(lambda: not [k for k in kids if alive(k)], 10, "every process gone")
        assert not list(registry.glob("*/pids/*.json")), "the pid registry is emptied"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ctrl_c_reaches_a_run_started_with_sigint_ignored(tmp_path: Path) -> None:
    """A run started as a background job of a non-interactive shell (a CI script's
    `chaoskit run ... &`) inherits SIGINT ignored; chaoskit installs its own handler,
    so Ctrl-C still stops it cleanly instead of being lost."""
    proc, run_dir, registry = _start_run(
        tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    try:
        kids = descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, (out, err)
        assert "interrupted by SIGINT" in (run_dir / "INCOMPLETE").read_text()
        # a SIGKILLed process takes a moment to be gone on a busy machine
        wait_for(lambda: not [k for k in kids if alive(k)], 10, "every process gone")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_while_bringing_up_stops_cleanly(sig: int, tmp_path: Path) -> None:
    """The signal lands while the topology comes up (before the `topology up` note):
    out within seconds, every process started so far stopped, INCOMPLETE."""
    results, registry = tmp_path / "results", tmp_path / "registry"
    proc = start_run(SMOKE, results, env=dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry)))
    try:
        kids: set[int] = set()
        end = time.monotonic() + 60
        while not list(registry.glob("*/pids/links.json")):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.01)
        kids |= descendants(proc.pid)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, (out, err)
        run_dir = (results / "smoke" / "latest").resolve()
        events = run_events(run_dir)
        assert not any(e.get("message") == "topology up" for e in events), "landed too late"
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False
        incomplete = (run_dir / "INCOMPLETE").read_text()
        assert "interrupted" in incomplete and "(phase: bringing the topology up)" in incomplete
        wait_for(lambda: not [k for k in kids if alive(k)], 10, "every process gone")
        assert not list(registry.glob("*/pids/*.json")), "the pid registry is emptied"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


CRASH_ON_RESTART = """import os, runpy, sys
mark = os.path.join(os.environ['MARK_DIR'], 'started')
if os.path.exists(mark):
    print('crash-looping node: exits at once', flush=True)
    sys.exit(7)
open(mark, 'w').close()
sys.argv = ['geokv', *sys.argv[1:]]
runpy.run_module('chaoskit.systems.geokv', run_name='__main__', alter_sys=True)
"""


@pytest.mark.slow
def test_a_node_that_crashes_on_every_restart_breaks_the_run(tmp_path: Path) -> None:
    """geokv (generic spec) whose node exits at once on every start after the first:
    the scheduled kill's heal cannot bring it back. The run must end BROKEN naming
    the failed heal -- before, the heal-failed event was recorded but the run was
    judged (exit 1) as if the schedule had gone as planned."""
    import yaml

    exp = yaml.safe_load((ROOT / "experiments" / "generic-geokv.yaml").read_text())
    exp["name"] = "crash-loop"
    exp["system"]["command"] = ["python3", "-c", CRASH_ON_RESTART, *exp["system"]["command"][3:]]
    exp["system"]["env"] = {"MARK_DIR": "{data_dir}"}
    exp["system"]["ready"]["deadline"] = "4s"
    exp["load"]["duration"] = "8s"
    exp["schedule"] = [{"at": "1s", "for": "2s", "fault": "kill", "target": {"node": "xian-1"}}]
    path = tmp_path / "crash-loop.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    registry = tmp_path / "registry"
    r = subprocess.run(
        [CHAOSKIT, "run", str(path), "--results", str(tmp_path / "results"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry)),
    )
    assert r.returncode == 3, (r.stdout, r.stderr)
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    incomplete = (run_dir / "INCOMPLETE").read_text()
    assert "heal of f1 (kill) failed" in incomplete and "xian-1" in incomplete, incomplete
    events = run_events(run_dir)
    assert [e["event"] for e in events if e.get("id") == "f1"] == ["apply", "heal-failed"]
    assert "crash-looping node" in (run_dir / "logs" / "xian-1.log").read_text()
    assert not list(registry.glob("*/pids/*.json")), "every process stopped"
