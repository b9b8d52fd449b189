"""SIGINT / SIGTERM landing in the healing and final-reads phases of a real run
(local backend). The run is held in the phase through run_experiment's
`at_phase`, so the signal lands there every time: exit 3, INCOMPLETE naming the
signal and the phase, every applied fault healed, none of the run's processes
left, and no file in the results directory that is cut short yet looks whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import alive, wait_for

ROOT = Path(__file__).resolve().parent.parent

# Holds the run in the phase named by argv[3]: writes argv[4] with that phase's name,
# then waits (the first signal ends the wait). Exits with the run's exit code.
_RUN_HELD_IN_PHASE = """
import sys, time
from pathlib import Path
from chaoskit.engine import run_experiment
from chaoskit.experiment import load_experiment

def hold(phase):
    if phase == sys.argv[3]:
        Path(sys.argv[4]).write_text(phase)
        time.sleep(60)

exp = load_experiment(
    sys.argv[1], ["load.duration=2s", "schedule.0.at=0.5s", "schedule.0.for=30s"]
)
result = run_experiment(exp, Path(sys.argv[2]), quiet=True, at_phase=hold)
print(result.run_dir)
sys.exit(result.exit_code)
"""


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _no_half_written_file(run_dir: Path) -> None:
    """Every JSON file parses, every .jsonl ends on a whole record, no temp file is left,
    and nothing claims the run finished (INCOMPLETE stays, no check verdict)."""
    for p in run_dir.rglob("*"):
        assert not p.name.endswith(".tmp"), f"a temp file is left: {p}"
        if p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".jsonl":
            text = p.read_text()
            assert not text or text.endswith("\n"), f"{p} ends in a partial record"
            for line in text.splitlines():
                json.loads(line)
    assert (run_dir / "INCOMPLETE").exists()
    assert not (run_dir / "check.json").exists(), "an interrupted run has no verdict"


@pytest.mark.parametrize("phase", ["healing", "final reads"])
@pytest.mark.parametrize(
    ("sig", "times"),
    [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)],
    ids=["sigint", "sigterm", "sigint-twice"],
)
def test_a_signal_in_the_phase_stops_cleanly(
    sig: int, times: int, phase: str, tmp_path: Path
) -> None:
    results, registry, reached = tmp_path / "results", tmp_path / "registry", tmp_path / "reached"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _RUN_HELD_IN_PHASE,
            str(ROOT / "experiments" / "smoke.yaml"),
            str(results),
            phase,
            str(reached),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry)),
        start_new_session=True,
    )
    try:
        end = time.monotonic() + 60
        while not reached.exists():
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.05)
        run_dir = (results / "smoke" / "latest").resolve()
        recs = [json.loads(p.read_text()) for p in registry.glob("*/pids/*.json")]
        nodes = {"beijing-1", "shanghai-1", "xian-1", "links"}
        assert nodes <= {r["name"] for r in recs}, recs
        pids = {int(r["pid"]) for r in recs}
        applied = {e["id"] for e in _events(run_dir) if e["event"] == "apply"}
        healed_before = {e["id"] for e in _events(run_dir) if e["event"] == "heal"}
        assert applied, "the fault was applied"
        # healing: held before the first heal; final reads: every heal already done
        assert healed_before == (set() if phase == "healing" else applied)

        for _ in range(times):
            proc.send_signal(sig)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, (out, err)

        name = signal.Signals(sig).name
        incomplete = (run_dir / "INCOMPLETE").read_text()
        assert f"interrupted by {name} (phase: {phase})" in incomplete, incomplete
        events = _events(run_dir)
        healed = {e["id"] for e in events if e["event"] == "heal"}
        assert healed == applied, "every applied fault healed"
        assert not [e for e in events if e["event"] == "heal-failed"], events
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False, events[-3:]
        assert f"interrupted by {name}" in events[-1]["error"]
        assert not [e for e in events if e["event"] == "final-reads"], "no final reads ran"
        (teardown,) = [e for e in events if e["event"] == "teardown"]
        assert teardown["complete"], teardown

        wait_for(lambda: not [p for p in pids if alive(p)], 10, "every process of the run gone")
        assert not list(registry.glob("*/pids/*.json")), "the pid registry is emptied"
        _no_half_written_file(run_dir)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
