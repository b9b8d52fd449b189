"""A Docker engine restarted in the middle of a run, for real: a private dockerd
(chaoskit.backends.docker.scratch: own socket, data root, exec root, pid file and
bridge) carries a docker-backend run of experiments/smoke.yaml on a machine kept busy
by `stress-ng`; the test restarts that dockerd (SIGTERM, wait, start again with the
same flags) while the fault is held. A restarted dockerd stops every container it
ran, so the run cannot go on: it must notice within seconds (chaoskit/watchdog.py
EngineWatch), end BROKEN naming the engine, heal what it can, tear down, and leave
nothing of the run on that engine -- or name what is left with the `chaoskit clean`
command, which then removes it. The private dockerd and its bridge are removed at
the end, also when the test fails."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import docker_ok, need
from helpers import CHAOSKIT, HOLD_FAULT, cpu_load, run_events, start_run, wait_for_event

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "experiments" / "smoke.yaml"


def _on_engine(engine) -> list[str]:
    """chaoskit's containers, networks and volumes on `engine`."""
    from chaoskit.testing.docker import leftovers

    return leftovers(client=engine.client())


def _first_seen(path: Path, pred, out: dict, stop: threading.Event) -> None:
    """Record in out["t"] the monotonic time an event matching `pred` shows in `path`."""
    while not stop.is_set():
        try:
            if any(pred(e) for e in run_events(path)):
                out["t"] = time.monotonic()
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


@pytest.mark.parametrize("down_s", [0.0, 20.0], ids=["back-at-once", "down-through-the-teardown"])
def test_a_docker_engine_restarted_mid_run(down_s: float, tmp_path: Path) -> None:
    """`down_s`: how long the engine stays stopped before it starts again -- at once
    (the run tears down on the restarted engine) or longer than the run's teardown
    (what is left is named, and `chaoskit clean` removes it once the engine is back)."""
    need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")
    need("root, dockerd and ip", os.geteuid() == 0 and bool(shutil.which("dockerd")), "run as root")
    from chaoskit.backends.docker.image import ensure_image
    from chaoskit.backends.docker.scratch import ScratchEngine

    tag = ensure_image(log=lambda m: None).tag
    engine = ScratchEngine()
    proc = None
    results = tmp_path / "results"
    env = dict(os.environ, DOCKER_HOST=engine.url, COLUMNS="200")
    try:
        engine.start()
        engine.load_image(tag)  # docker save | docker load
        with cpu_load(2):
            proc = start_run(SMOKE, results, "--backend", "docker", *HOLD_FAULT, env=env)
            run_dir = wait_for_event(proc, results / "smoke" / "latest", "apply", timeout=240)
            assert _on_engine(engine), "the run's containers are on the private engine"
            noticed: dict[str, float] = {}
            ended: dict[str, float] = {}
            stop = threading.Event()
            watchers = [
                threading.Thread(target=_first_seen, args=(run_dir, pred, out, stop), daemon=True)
                for pred, out in (
                    (lambda e: e.get("message") == "harness fault", noticed),
                    (lambda e: e["event"] == "run-end", ended),
                )
            ]
            for w in watchers:
                w.start()
            t = time.monotonic()
            down = engine.restart(down_s)
            out, err = proc.communicate(timeout=180)
            stop.set()
            for w in watchers:
                w.join(2)
        assert proc.returncode == 3, (out, err)
        assert "the Docker engine at " + engine.url in err, err
        events = run_events(run_dir)
        (fault,) = [e for e in events if e.get("message") == "harness fault"]
        assert "the Docker engine at " + engine.url in fault["error"], fault
        assert "t" in noticed and "t" in ended, "the harness fault note or run-end never seen"
        notice_s, end_s = noticed["t"] - t, ended["t"] - t
        # noticed within seconds, not at the end of the 60 s load
        assert notice_s < 15, f"the engine restart was noticed after {notice_s:.1f} s"
        assert events[-1]["event"] == "run-end" and events[-1]["ok"] is False
        assert "Docker engine" in events[-1]["error"]
        assert "Docker engine" in (run_dir / "INCOMPLETE").read_text()
        applied = {e["id"] for e in events if e["event"] == "apply"}
        settled = {e["id"] for e in events if e["event"] in ("heal", "heal-failed")}
        assert applied and applied == settled, "every applied fault was healed (or said why not)"
        (teardown,) = [e for e in events if e["event"] == "teardown"]
        if not teardown["complete"]:  # what is left is named, with the command that removes it
            cmd = teardown["clean_command"]
            assert cmd.startswith("chaoskit clean --run "), teardown
            assert cmd in err, err
            done = subprocess.run(
                [CHAOSKIT, *cmd.split()[1:]], capture_output=True, text=True, env=env, timeout=120
            )
            assert done.returncode == 0, done.stderr
        assert _on_engine(engine) == [], "nothing of the run is left on the engine"
        print(
            f"\n{events[-1]['error']}\nengine down for {down:.1f} s; noticed {notice_s:.1f} s after the SIGTERM; "
            f"run ended {end_s:.1f} s after it; teardown {teardown.get('seconds')} "
            f"complete={teardown['complete']} left={teardown['left']}"
        )
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        engine.stop()
    assert not engine.dir.exists()
    gone = subprocess.run(["ip", "link", "show", engine.bridge], capture_output=True)
    assert gone.returncode != 0, f"bridge {engine.bridge} left behind"
