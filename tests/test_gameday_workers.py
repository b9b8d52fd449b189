"""`chaoskit gameday --workers N`: distributed Locust (a master and N worker
processes), its web UI served by the master with the chaoskit panel in it, driven
over HTTP; bad values are refused like `chaoskit run --workers`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
from helpers import alive, descendants, wait_for
from test_gameday_web import GameDayProc

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def test_gameday_with_workers_over_http(tmp_path: Path) -> None:
    gd = GameDayProc(tmp_path, "--workers", "2")
    try:
        url, s = gd.url, requests.Session()
        kids = descendants(gd.proc.pid)
        page = s.get(url + "/", timeout=10)
        assert page.status_code == 200 and 'href="/chaoskit"' in page.text
        # the master hands the users to its two workers
        r = s.post(url + "/swarm", data={"user_count": 4, "spawn_rate": 20}, timeout=10)
        assert r.json()["success"] is True

        def spread() -> bool:
            st = s.get(url + "/stats/requests", timeout=10).json()
            return st.get("user_count") == 4 and len(st.get("workers", [])) == 2

        wait_for(spread, what="4 users on 2 workers")
        # the panel works through the master's UI: live health from all regions
        wait_for(
            lambda: len(s.get(url + "/chaoskit/api/state", timeout=10).json()["health"]) == 3,
            what="recent operations from all three regions",
        )
        r = s.post(url + "/chaoskit/api/end", json={}, timeout=30)
        assert r.json()["ending"] is True
        assert gd.wait(60) in (0, 1), gd.err()
        events = [json.loads(x) for x in (gd.run_dir / "events.jsonl").read_text().splitlines()]
        starts = [e for e in events if e["event"] == "load-start"]
        assert [e["workers"] for e in starts] == [2]
        history = (gd.run_dir / "history.jsonl").read_text().splitlines()
        assert len(history) > 10, "the workers' records reach the master's history"
        assert not (gd.run_dir / "INCOMPLETE").exists()
        wait_for(lambda: not any(alive(p) for p in kids), timeout=15, what="processes to exit")
    finally:
        gd.close()


def test_gameday_workers_validated(tmp_path: Path) -> None:
    exp = tmp_path / "gd.yaml"
    exp.write_text("name: gd\n")
    r = subprocess.run(
        [CHAOSKIT, "gameday", str(exp), "--workers", "-1", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert "--workers" in r.stderr and "-1" in r.stderr
