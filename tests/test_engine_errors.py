"""The run breaks in the middle (the load process dies, a scheduled fault cannot be
applied): exit 3, every applied fault healed, nothing left running, the results
directory marked INCOMPLETE with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import alive, descendants

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")

EXPERIMENT = """\
name: breaks
seed: 1
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    shanghai: {location: shanghai, zones: {sh-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
  clients: {beijing: 1, shanghai: 1, xian: 1}
system: {kind: geokv, mode: quorum}
load: {workload: register, keys: 2, duration: 60s, rate: 20, timeout: 1s}
schedule:
  - {at: 1s, for: 50s, fault: cut-region, region: xian}
  # geokv quorum has no leader: valid in the file, fails when applied
  - {at: 1s, for: 50s, fault: pause, target: leader}
checks:
  linearizable: true
"""


def _events(run_dir: Path) -> list[dict]:
    p = run_dir / "events.jsonl"
    if not p.exists():
        return []
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip().endswith("}")]


def test_load_dying_mid_run_heals_and_cleans_up(tmp_path: Path) -> None:
    exp = tmp_path / "breaks.yaml"
    exp.write_text(EXPERIMENT)
    results, registry = tmp_path / "results", tmp_path / "registry"
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry))
    proc = subprocess.Popen(
        [CHAOSKIT, "run", str(exp), "--results", str(results), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        run_dir = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            latest = results / "breaks" / "latest"
            evs = _events(latest.resolve()) if latest.exists() else []
            if any(e["event"] == "apply" for e in evs) and any(
                "applying pause" in e.get("message", "") for e in evs
            ):
                run_dir = latest.resolve()
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert run_dir is not None, "the cut was never applied, or the failed apply not noted"
        kids = descendants(proc.pid)
        recs = {
            r["name"]: r["pid"]
            for r in (json.loads(p.read_text()) for p in registry.glob("*/pids/*.json"))
        }
        assert "load-0" in recs and recs["load-0"] in kids
        os.kill(recs["load-0"], signal.SIGKILL)  # the load generator crashes

        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, (out, err)
        events = _events(run_dir)
        applied = {e["id"] for e in events if e["event"] == "apply"}
        healed = {e["id"] for e in events if e["event"] == "heal" and e["ok"]}
        assert applied == {"f1"} and healed == applied, events
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False
        assert "load process failed" in events[-1]["error"]
        incomplete = (run_dir / "INCOMPLETE").read_text()
        assert "load process failed" in incomplete
        assert "load process failed" in err
        time.sleep(0.2)
        left = [k for k in kids if alive(k)]
        assert not left, f"processes left behind: {left}"
        assert not list(registry.glob("*/pids/*.json")), "the pid registry is emptied"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
