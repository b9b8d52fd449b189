"""Ctrl-C in the middle of `chaoskit run`: out within 10 s, every fault healed,
no process left, the results marked INCOMPLETE."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HOLD_FAULT, alive, descendants, run_events, start_run, wait_for, wait_for_event

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("sig", "times"),
    [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)],
    ids=["sigint", "sigterm", "sigint-twice-hurries"],
)
def test_interrupt_heals_and_cleans_up(sig: int, times: int, tmp_path: Path) -> None:
    results = tmp_path / "results"
    registry = tmp_path / "registry"
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry))
    proc = start_run(ROOT / "experiments" / "smoke.yaml", results, *HOLD_FAULT, env=env)
    try:
        run_dir = wait_for_event(proc, results / "smoke" / "latest", "apply")
        time.sleep(1.0)  # load and fault both running
        kids = descendants(proc.pid)
        recs = [json.loads(p.read_text()) for p in registry.glob("*/pids/*.json")]
        names = sorted(r["name"] for r in recs)
        assert names == ["beijing-1", "links", "load-0", "shanghai-1", "xian-1"], names
        registered = {r["pid"] for r in recs}
        assert registered <= kids, "nodes, link server and load are all ours"

        t = time.monotonic()
        proc.send_signal(sig)
        if times == 2:
            time.sleep(0.2)
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        took = time.monotonic() - t
        assert took < (10 if times == 1 else 5), f"exit took {took:.1f} s"
        assert proc.returncode == 3, err

        events = run_events(run_dir)
        applied = {e["id"] for e in events if e["event"] == "apply"}
        healed = {e["id"] for e in events if e["event"] == "heal" and e["source"] == "teardown"}
        assert applied and applied == healed, events
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False
        assert "interrupted" in events[-1]["error"]
        assert (run_dir / "INCOMPLETE").exists()
        assert "interrupted" in (run_dir / "INCOMPLETE").read_text()
        assert "(phase: load + faults)" in (run_dir / "INCOMPLETE").read_text()

        # a SIGKILLed process takes a moment to be gone on a busy machine
        wait_for(lambda: not [k for k in kids if alive(k)], 10, "every process gone")
        assert not list(registry.glob("*/pids/*.json")), "the pid registry is emptied"
        assert str(run_dir) in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# run_experiment with a `before_checks` that holds the run in the checks phase long
# enough for the signal to land there; exits with the run's exit code.
_RUN_HELD_BEFORE_CHECKS = """
import sys, time
from pathlib import Path
from chaoskit.engine import run_experiment
from chaoskit.experiment import load_experiment

exp = load_experiment(
    sys.argv[1], ["load.duration=2s", "schedule.0.at=0.5s", "schedule.0.for=1s"]
)
result = run_experiment(exp, Path(sys.argv[2]), quiet=True, before_checks=lambda: time.sleep(30))
sys.exit(result.exit_code)
"""


def test_interrupt_during_checks_is_recorded(tmp_path: Path) -> None:
    """A SIGINT after teardown, while the checks run: events.jsonl must not end in
    run-end ok=true when the INCOMPLETE marker says interrupted."""
    results = tmp_path / "results"
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(tmp_path / "registry"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _RUN_HELD_BEFORE_CHECKS,
            str(ROOT / "experiments" / "smoke.yaml"),
            str(results),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        run_dir = wait_for_event(proc, results / "smoke" / "latest", "run-end")
        ends = [e for e in run_events(run_dir) if e["event"] == "run-end"]
        assert [e["ok"] for e in ends] == [True], "teardown went fine: the checks come next"
        t = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        assert time.monotonic() - t < 10
        assert proc.returncode == 3, err

        events = run_events(run_dir)
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False, events[-3:]
        assert "interrupted by SIGINT" in events[-1]["error"]
        assert "interrupted by SIGINT (phase: checking)" in (run_dir / "INCOMPLETE").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
