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
# then waits until the first signal and the test's "done" file (so a second signal
# lands there too). "in the final reads" instead stops
# (SIGSTOP) xian-1 as the final reads begin, so they are under way and stuck when
# the signal comes. Exits with the run's exit code.
_RUN_HELD_IN_PHASE = """
import json, os, signal, sys, time
from pathlib import Path
from chaoskit.engine import Interrupted, run_experiment
from chaoskit.experiment import load_experiment

def hold(phase):
    if phase == sys.argv[3]:
        Path(sys.argv[4]).write_text(phase)
        try:
            time.sleep(60)
        except Interrupted:  # the first signal; stay until the test says it is done signalling
            Path(sys.argv[4] + ".first").write_text("")
            end = time.monotonic() + 30
            while not Path(sys.argv[4] + ".done").exists() and time.monotonic() < end:
                time.sleep(0.02)
            raise
    elif phase == "final reads" and sys.argv[3] == "in the final reads":
        # xian-1 stops answering: its region's final reads wait out their timeouts
        reg = Path(os.environ["CHAOSKIT_LOCAL_REGISTRY"])
        (rec,) = [json.loads(p.read_text()) for p in reg.glob("*/pids/xian-1.json")]
        os.kill(int(rec["pid"]), signal.SIGSTOP)
        Path(sys.argv[4]).write_text(phase)

exp = load_experiment(
    sys.argv[1], ["load.duration=2s", "schedule.0.at=0.5s", "schedule.0.for=30s"]
)
result = run_experiment(exp, Path(sys.argv[2]), quiet=True, at_phase=hold)
print(result.run_dir)
sys.exit(result.exit_code)
"""


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _events_so_far(run_dir: Path) -> list[dict]:
    """The whole records of a run's events.jsonl while the run may still be creating or
    writing it: [] before the file exists, a partly written last line left out."""
    try:
        text = (run_dir / "events.jsonl").read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line]


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


def _start(tmp_path: Path, phase: str) -> tuple[subprocess.Popen, Path, Path]:
    """The held run, once it is in `phase`: (process, results root, pid registry)."""
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
    end = time.monotonic() + 60
    while not reached.exists():
        if proc.poll() is not None or time.monotonic() > end:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(proc.communicate())
        time.sleep(0.05)
    return proc, (results / "smoke" / "latest").resolve(), registry


def _run_pids(registry: Path) -> set[int]:
    recs = [json.loads(p.read_text()) for p in registry.glob("*/pids/*.json")]
    assert {"beijing-1", "shanghai-1", "xian-1", "links"} <= {r["name"] for r in recs}, recs
    return {int(r["pid"]) for r in recs}


def _assert_stopped_cleanly(
    proc: subprocess.Popen, sig: int, phase: str, run_dir: Path, registry: Path, pids: set[int]
) -> list[dict]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, (out, err)
    assert "Traceback" not in err, err
    name = signal.Signals(sig).name
    incomplete = (run_dir / "INCOMPLETE").read_text()
    assert f"interrupted by {name} (phase: {phase})" in incomplete, incomplete
    events = _events(run_dir)
    applied = {e["id"] for e in events if e["event"] == "apply"}
    healed = {e["id"] for e in events if e["event"] == "heal"}
    assert applied and healed == applied, "every applied fault healed"
    assert not [e for e in events if e["event"] == "heal-failed"], events
    assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False, events[-3:]
    assert f"interrupted by {name}" in events[-1]["error"]
    assert not [e for e in events if e["event"] == "final-reads"], "the final reads never ended"
    (teardown,) = [e for e in events if e["event"] == "teardown"]
    assert teardown["complete"], teardown
    wait_for(lambda: not [p for p in pids if alive(p)], 10, "every process of the run gone")
    assert not list(registry.glob("*/pids/*.json")), "the pid registry is emptied"
    _no_half_written_file(run_dir)
    return events


@pytest.mark.parametrize("phase", ["healing", "final reads"])
@pytest.mark.parametrize(
    ("sig", "times"),
    [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)],
    ids=["sigint", "sigterm", "sigint-twice"],
)
def test_a_signal_in_the_phase_stops_cleanly(
    sig: int, times: int, phase: str, tmp_path: Path
) -> None:
    proc, run_dir, registry = _start(tmp_path, phase)
    try:
        pids = _run_pids(registry)
        applied = {e["id"] for e in _events(run_dir) if e["event"] == "apply"}
        healed_before = {e["id"] for e in _events(run_dir) if e["event"] == "heal"}
        assert applied, "the fault was applied"
        # healing: held before the first heal; final reads: every heal already done
        assert healed_before == (set() if phase == "healing" else applied)
        proc.send_signal(sig)
        wait_for((tmp_path / "reached.first").exists, 20, "the first signal landed")
        if times == 2:
            proc.send_signal(sig)  # still in the phase: the run waits for "done"
        (tmp_path / "reached.done").write_text("")
        events = _assert_stopped_cleanly(proc, sig, phase, run_dir, registry, pids)
        source = {e["source"] for e in events if e["event"] == "heal"}
        assert source == ({"teardown"} if phase == "healing" else {"schedule"}), events
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_while_final_reads_wait_on_a_hung_node(sig: int, tmp_path: Path) -> None:
    """The signal lands while final reads are under way, one region's stuck on a
    stopped node: out within seconds, the history cut at a whole record, the hung
    node removed with the rest."""
    proc, run_dir, registry = _start(tmp_path, "in the final reads")
    try:
        pids = _run_pids(registry)

        def xian_final_read_sent() -> bool:
            lines = (run_dir / "history.jsonl").read_text().splitlines()
            return any('"phase":"final"' in s and '"region":"xian"' in s for s in lines)

        wait_for(xian_final_read_sent, 20, "a final read of xian under way")
        t = time.monotonic()
        proc.send_signal(sig)
        _assert_stopped_cleanly(proc, sig, "final reads", run_dir, registry, pids)
        assert time.monotonic() - t < 15
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_second_ctrl_c_as_the_run_ends_changes_nothing(tmp_path: Path) -> None:
    """The hurrying second Ctrl-C of `chaoskit run` arriving once the run has already
    stopped (INCOMPLETE written, its signal handlers gone) while the summary is
    printed: still exit 3 with the results directory on stdout, no traceback."""
    results, registry = tmp_path / "results", tmp_path / "registry"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chaoskit"),
            "run",
            str(ROOT / "experiments" / "smoke.yaml"),
            "--set",
            "load.duration=60s",
            "--set",
            "schedule.0.at=0.5s",
            "--set",
            "schedule.0.for=50s",
            "--results",
            str(results),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry)),
        start_new_session=True,
    )
    try:

        def load_started() -> bool:
            latest = results / "smoke" / "latest"
            return any(e["event"] == "apply" for e in _events_so_far(latest))

        wait_for(load_started, 60, "the fault applied under load")
        run_dir = (results / "smoke" / "latest").resolve()
        proc.send_signal(signal.SIGINT)
        end = time.monotonic() + 30
        while "interrupted" not in (run_dir / "INCOMPLETE").read_text():
            assert time.monotonic() < end, "the run never stopped"
            time.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, (out, err)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert out.strip().splitlines()[-1] == str(run_dir)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
