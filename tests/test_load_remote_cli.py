"""`chaoskit run --remote-workers`: Locust's distributed mode with a worker started by
hand, as on another machine (its own process, the master's address and port, clock
synchronised over Locust's channel), and the merged history checked on geokv quorum."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import alive, free_port

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow  # a real ~20 s run
def test_remote_worker_joins_a_cli_run_and_its_history_is_checked(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(tmp_path / "registry"))
    out = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed in finally
    wlog = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    run = subprocess.Popen(
        [
            CHAOSKIT, "run", str(ROOT / "experiments" / "smoke.yaml"), "--quiet",
            "--results", str(tmp_path / "results"),
            "--remote-workers", "1", "--master-port", str(port), "--worker-wait", "60",
            "--set", "load.duration=6s", "--set", "schedule.0.at=2s", "--set", "schedule.0.for=2s",
        ],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )  # fmt: skip
    worker = None
    try:
        # The "other machine" joins once the master listens (topology first, then load).
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Locust master never listened"
            time.sleep(0.1)
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "chaoskit.load.runner", "--role", "worker",
                "--master-host", "127.0.0.1", "--master-port", str(port), "--clock", "sync",
            ],
            stdout=wlog, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        code = run.wait(timeout=120)
        worker.wait(timeout=30)  # the master tells its workers to quit
    finally:
        for p in (run, worker):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        out.close()
        wlog.close()
    log = (tmp_path / "run.log").read_text()
    assert code == 0, log[-3000:]
    assert "clock offset to master found" in (tmp_path / "worker.log").read_text()
    run_dir = Path(log.strip().splitlines()[-1])
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "load-start")
    assert start["remote_workers"] == 1 and start["workers"] == 0
    # Every region's users ran on the remote worker; the merged history is one
    # linearizable history (the checker ran on it) with the cut on its timeline.
    recs = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()]
    assert {r["region"] for r in recs if r["type"] == "ok"} == {"beijing", "shanghai", "xian"}
    check = json.loads((run_dir / "check.json").read_text())
    assert check["linearizability"]["verdict"] == "linearizable"
    assert [f["id"] for f in check["scorecard"]["faults"]] == ["f1"]
    assert not alive(worker.pid)
    assert not (tmp_path / "registry").exists() or not any((tmp_path / "registry").iterdir())


def test_remote_workers_need_a_fixed_master_port(tmp_path: Path) -> None:
    r = subprocess.run(
        [CHAOSKIT, "run", str(ROOT / "experiments" / "smoke.yaml"), "--remote-workers", "2"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and "--master-port" in r.stderr
    assert not (tmp_path / "results").exists()
