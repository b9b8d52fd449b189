"""Game-day access: beyond loopback the web UI needs a login (refused without one,
nothing started); with --login, Locust's own web login guards Locust's pages and
the chaoskit panel alike; the control API refuses requests without its token;
Ctrl-C (SIGINT) ends the game day with every fault healed and the run reported."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from chaoskit.gameday.control import TOKEN_HEADER, ControlServer

sys.path.insert(0, str(Path(__file__).parent))
from test_gameday_web import GameDayProc  # noqa: E402

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def test_non_loopback_without_login_is_refused(tmp_path: Path) -> None:
    exp = tmp_path / "gd.yaml"
    from test_gameday_web import EXPERIMENT

    exp.write_text(EXPERIMENT)
    env = {k: v for k, v in __import__("os").environ.items() if k != "CHAOSKIT_GAMEDAY_LOGIN"}
    r = subprocess.run(
        [CHAOSKIT, "gameday", str(exp), "--host", "0.0.0.0", "--results", str(tmp_path / "res")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 2
    assert "--host 0.0.0.0" in r.stderr and "--login USER:PASSWORD" in r.stderr
    assert not (tmp_path / "res").exists()
    r = subprocess.run(
        [CHAOSKIT, "gameday", str(exp), "--login", "nopassword"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 2 and "USER:PASSWORD" in r.stderr


def test_control_api_needs_its_token() -> None:
    seen = []

    def handler(verb: str, body: dict) -> tuple[int, dict]:
        seen.append((verb, body))
        return 200, {"ok": True, "verb": verb}

    srv = ControlServer(handler).start()
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        assert requests.get(srv.url + "/state", timeout=5).status_code == 403
        bad = requests.post(
            srv.url + "/apply", json={"fault": "kill"}, headers={TOKEN_HEADER: "x"}, timeout=5
        )
        assert bad.status_code == 403 and seen == []
        ok = requests.post(
            srv.url + "/apply",
            json={"fault": "kill"},
            headers={TOKEN_HEADER: srv.token},
            timeout=5,
        )
        assert ok.json() == {"ok": True, "verb": "apply"}
        assert seen == [("apply", {"fault": "kill"})]
        nf = requests.post(srv.url + "/nope", headers={TOKEN_HEADER: srv.token}, timeout=5)
        assert nf.status_code == 404
    finally:
        srv.stop()


def test_login_guards_locust_and_panel_then_ctrl_c(tmp_path: Path) -> None:
    gd = GameDayProc(tmp_path, "--login", "room:s3cret word")
    try:
        assert gd.info["login"] is True
        url = gd.url
        anon = requests.Session()
        for path in ("/", "/chaoskit", "/chaoskit/api/state"):
            r = anon.get(url + path, allow_redirects=False, timeout=10)
            assert r.status_code in (302, 401), (path, r.status_code)
        r = anon.post(url + "/swarm", data={"user_count": 1, "spawn_rate": 1}, timeout=10)
        assert "login" in r.url or r.status_code in (302, 401)
        r = anon.post(
            url + "/chaoskit/api/apply",
            json={"fault": "cut-region", "params": {"region": "xian"}},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code in (302, 401)
        # Locust's login page: our callback, and no credentials in it
        page = anon.get(url + "/login", timeout=10).text
        assert "/chaoskit/login" in page and "s3cret" not in page
        # a wrong password is refused, the right one lets the room in
        r = anon.post(url + "/chaoskit/login", data={"username": "room", "password": "x"})
        assert anon.get(url + "/chaoskit/api/state", allow_redirects=False).status_code == 302
        room = requests.Session()
        room.post(url + "/chaoskit/login", data={"username": "room", "password": "s3cret word"})
        st = room.get(url + "/chaoskit/api/state", timeout=10).json()
        assert st["ok"] and st["experiment"] == "gd"
        assert "s3cret" not in (gd.run_dir / "load-plan.json").read_text()
        r = room.post(
            url + "/chaoskit/api/apply",
            json={"fault": "cut-region", "params": {"region": "beijing"}},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        fid = r.json()["fault"]["id"]
        time.sleep(0.5)
        # Ctrl-C: the game day heals (source teardown), checks and reports
        gd.proc.send_signal(signal.SIGINT)
        code = gd.wait(120)
        assert code in (0, 1), gd.err()  # checked and reported, as any end
        events = [json.loads(x) for x in (gd.run_dir / "events.jsonl").read_text().splitlines()]
        heals = [e for e in events if e["event"] == "heal" and e["id"] == fid]
        assert heals and heals[0]["source"] == "teardown"
        assert (gd.run_dir / "report.html").exists()
    finally:
        gd.close()
    assert not gd.registry.exists() or not any(gd.registry.iterdir())


@pytest.mark.slow  # the load runner waits 10 s for a web UI that cannot bind
def test_port_in_use_is_a_clear_usage_error(tmp_path: Path) -> None:
    import os
    import socket

    from test_gameday_web import EXPERIMENT

    exp = tmp_path / "gd.yaml"
    exp.write_text(EXPERIMENT)
    registry = tmp_path / "registry"
    env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry))
    env.pop("CHAOSKIT_GAMEDAY_LOGIN", None)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = subprocess.run(
            [
                CHAOSKIT,
                "gameday",
                str(exp),
                "--port",
                str(port),
                "--results",
                str(tmp_path / "res"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    assert r.returncode == 2, r.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    # what had started (nodes, links, Locust) is gone again; the run is marked INCOMPLETE
    assert not registry.exists() or not any(registry.iterdir())
    runs = [p for p in (tmp_path / "res" / "gd").iterdir() if p.name != "latest"]
    assert (runs[0] / "INCOMPLETE").exists()


def test_killed_gameday_does_not_leave_locust_running(tmp_path: Path) -> None:
    from helpers import alive

    from chaoskit.backends.local import cleanup_local_leftovers

    gd = GameDayProc(tmp_path)
    try:
        locust = int(gd.info["locust_pid"])
        st = requests.get(gd.url + "/chaoskit/api/state", timeout=10).json()
        nodes = [
            n["pid"] for r in st["topology"]["regions"] for z in r["zones"] for n in z["nodes"]
        ]
        gd.proc.kill()  # SIGKILL: no heal, no teardown, no chance to stop Locust
        gd.proc.wait(10)
        deadline = time.monotonic() + 20
        while alive(locust) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(locust), "Locust outlived its game day"
    finally:
        gd.close()
        # the nodes of a SIGKILLed harness are `chaoskit clean`'s job (owner gone)
        cleanup_local_leftovers(gd.registry)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in nodes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in nodes)
