"""A game day driven over HTTP and from its terminal: `chaoskit gameday` in a
subprocess, load started through Locust's own /swarm, a region cut from the
chaoskit panel's endpoint and healed, a terminal command, the end from the panel;
the journal and report.html show the faults; a headless Chromium screenshot of
the panel is not blank; nothing is left running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import alive, chromium, wait_for

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")

EXPERIMENT = """\
name: gd
backend: local
seed: 5
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    shanghai: {location: shanghai, zones: {sh-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
  clients: {beijing: 1, shanghai: 1, xian: 1}
system: {kind: geokv, mode: quorum}
load: {workload: register, keys: 3, duration: 10s, rate: 30, timeout: 1s}
checks:
  linearizable: true
"""


class GameDayProc:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmp = tmp
        self.results = tmp / "results"
        self.registry = tmp / "registry"
        exp = tmp / "gd.yaml"
        exp.write_text(EXPERIMENT)
        env = dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(self.registry))
        env.pop("CHAOSKIT_GAMEDAY_LOGIN", None)
        self.stdout = open(tmp / "stdout.txt", "w")  # noqa: SIM115 - closed in close()
        self.stderr = open(tmp / "stderr.txt", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [CHAOSKIT, "gameday", str(exp), "--port", "0", "--results", str(self.results), *args],
            stdin=subprocess.PIPE,
            stdout=self.stdout,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.info = self._wait_info()
        self.url = self.info["web_url"]
        self.run_dir = next(p for p in (self.results / "gd").iterdir() if p.name != "latest")

    def _wait_info(self) -> dict:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for f in self.results.glob("gd/*/gameday.json"):
                return json.loads(f.read_text())
            if self.proc.poll() is not None:
                raise AssertionError(f"gameday exited {self.proc.returncode}: {self.err()}")
            time.sleep(0.1)
        raise AssertionError(f"no gameday.json within 90 s: {self.err()}")

    def err(self) -> str:
        self.stderr.flush()
        return (self.tmp / "stderr.txt").read_text()[-3000:]

    def out(self) -> str:
        self.stdout.flush()
        return (self.tmp / "stdout.txt").read_text()

    def say(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = 90) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the game day's own Ctrl-C path: heal, check, report
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stdout.close()
        self.stderr.close()


@pytest.fixture(scope="module")
def gameday(tmp_path_factory: pytest.TempPathFactory):
    gd = GameDayProc(tmp_path_factory.mktemp("gameday"))
    try:
        yield gd
    finally:
        gd.close()


def test_panel_screenshot_is_not_blank(gameday: GameDayProc, need_chromium: None) -> None:
    from PIL import Image

    tmp = gameday.tmp
    png = tmp / "panel.png"
    chromium(
        gameday.url + "/chaoskit",
        tmp / "chromium",
        f"--screenshot={png}",
        "--window-size=1280,900",
        "--virtual-time-budget=5000",  # let the panel's first /state fetch render
    )
    assert png.exists(), "chromium wrote no screenshot"
    img = Image.open(png).convert("RGB").resize((320, 225))
    colors = img.getcolors(maxcolors=1 << 16) or []
    assert len(colors) > 20, "the panel screenshot is (nearly) one colour"
    # the topology was rendered: region cards have green (not cut) borders
    greens = sum(n for n, (r, g, b) in colors if g > 100 and g > r + 40 and g > b + 40)
    assert greens > 10, "no region card in the screenshot"


def _crosses(link: str, region: str) -> bool:
    """Whether a link named `src->dst:port` (a node `region-N` or a client region) joins
    `region` with another region."""
    src, dst = link.split(":")[0].split("->")
    ends = {
        src.rsplit("-", 1)[0] if src[-1].isdigit() else src,
        dst.rsplit("-", 1)[0] if dst[-1].isdigit() else dst,
    }
    return region in ends and len(ends) == 2


def test_gameday_over_http(gameday: GameDayProc, need_chromium: None) -> None:
    url, s = gameday.url, requests.Session()
    pids = {int(gameday.info["pid"]), int(gameday.info["locust_pid"])}

    # Locust's own UI and API: the page links to the panel; /swarm changes the users
    page = s.get(url + "/", timeout=10)
    assert page.status_code == 200 and 'href="/chaoskit"' in page.text
    r = s.post(url + "/swarm", data={"user_count": 6, "spawn_rate": 20}, timeout=10)
    assert r.json()["success"] is True
    wait_for(
        lambda: s.get(url + "/stats/requests", timeout=10).json().get("user_count") == 6,
        what="6 users",
    )

    # "served right now" per region, from the live history
    wait_for(
        lambda: len(s.get(url + "/chaoskit/api/state", timeout=10).json()["health"]) == 3,
        what="recent operations from all three regions",
    )
    st = s.get(url + "/chaoskit/api/state", timeout=10).json()
    assert st["ok"] and st["experiment"] == "gd"
    assert all(h["ops"] > 0 and h["served"] <= h["ops"] for h in st["health"].values())
    assert [r["name"] for r in st["topology"]["regions"]] == ["beijing", "shanghai", "xian"]
    # a link per node pair (peer traffic) and per client region and node
    assert len(st["links"]) == 3 * 2 + 3 * 3 and not any(ln["cut"] for ln in st["links"])
    crossing_xian = sorted(ln["name"] for ln in st["links"] if _crosses(ln["name"], "xian"))
    assert "cut-region" in {f["name"] for f in st["catalogue"]}
    nodes = [n for r in st["topology"]["regions"] for z in r["zones"] for n in z["nodes"]]
    assert all(n["running"] for n in nodes) and len(nodes) == 3
    pids |= {n["pid"] for n in nodes}

    # cut Xi'an from the panel: every link that crosses its border is cut
    r = s.post(
        url + "/chaoskit/api/apply", json={"fault": "cut-region", "params": {"region": "xian"}}
    )
    assert r.status_code == 200, r.text
    fid = r.json()["fault"]["id"]
    st = s.get(url + "/chaoskit/api/state", timeout=10).json()
    cut = sorted(ln["name"] for ln in st["links"] if ln["cut"])
    assert cut == crossing_xian and len(cut) == 8
    assert [a["id"] for a in st["active"]] == [fid]
    # what the room sees: the panel (rendered by a real browser) marks the region and
    # its links as cut by this fault
    dom = chromium(
        url + "/chaoskit", gameday.tmp / "chromium-cut", "--dump-dom", "--virtual-time-budget=5000"
    ).stdout
    assert f"cut off by {fid}" in dom, dom[-2000:]
    assert dom.count('<tr class="cut">') == 8 and dom.count(f"{fid} cut-region</td>") == 8

    # bad input: a readable refusal, nothing applied; a foreign origin is refused
    r = s.post(
        url + "/chaoskit/api/apply", json={"fault": "cut-region", "params": {"region": "xi"}}
    )
    assert r.status_code == 400 and "does not exist" in r.json()["error"]
    r = s.post(
        url + "/chaoskit/api/heal",
        json={"id": "all"},
        headers={"Origin": "http://elsewhere.example"},
    )
    assert r.status_code == 403

    # the same actions from the terminal
    gameday.say("apply latency links='{region: beijing}' rtt=300ms")
    gameday.say("status")
    wait_for(lambda: "applied g" in gameday.out() and "active" in gameday.out(), what="terminal")
    time.sleep(1.0)

    r = s.post(url + "/chaoskit/api/heal", json={"id": fid}, timeout=30)
    assert r.json()["healed"] == [fid]
    time.sleep(1.0)
    r = s.post(url + "/chaoskit/api/end", json={}, timeout=30)
    assert r.json()["ending"] is True
    code = gameday.wait(120)
    assert code in (0, 1), gameday.err()

    run_dir = gameday.run_dir
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    by = [(e["event"], e.get("id"), e.get("fault"), e.get("source")) for e in events]
    assert ("apply", fid, "cut-region", "gameday-web") in by
    assert ("heal", fid, "cut-region", "gameday-web") in by
    term = [e for e in events if e["event"] == "apply" and e["source"] == "gameday-terminal"]
    assert [e["fault"] for e in term] == ["latency"]
    assert term[0]["params"]["rtt"] == pytest.approx(0.3)
    # the terminal's fault was still active at the end: healed by the ending (from the web)
    assert ("heal", term[0]["id"], "latency", "gameday-web") in by
    swarm = [e for e in events if e["event"] == "note" and "users from Locust" in e["message"]]
    assert swarm and swarm[0]["user_count"] == "6" and swarm[0]["source"] == "gameday-web"
    rejected = [e for e in events if e["event"] == "note" and "rejected" in e["message"]]
    assert rejected and rejected[0]["source"] == "gameday-web"
    assert [e["event"] for e in events][-1] == "run-end"
    # every fault has a time; the heal comes after the apply
    t_apply = next(e["time"] for e in events if e["event"] == "apply" and e["id"] == fid)
    t_heal = next(e["time"] for e in events if e["event"] == "heal" and e["id"] == fid)
    assert 0 < t_apply < t_heal

    # checked and reported exactly as `chaoskit run`: check.json, report.html with the fault
    check = json.loads((run_dir / "check.json").read_text())
    assert "passed" in check
    html = (run_dir / "report.html").read_text()
    assert fid in html and "cut-region" in html and "latency" in html
    # on the report's fault timeline: the plot's bar label and the table row with its source
    timeline = html[html.index('id="timeline"') : html.index('id="latency"')]
    assert f"{fid} cut-region xian" in timeline
    row = rf'<td class="l">{fid}</td>(?:(?!</tr>).)*<td class="l">gameday-web</td>'  # one row
    assert re.search(row, timeline, re.S), timeline[-3000:]
    assert not (run_dir / "INCOMPLETE").exists()
    assert str(run_dir) in gameday.out()

    # nothing left running
    wait_for(lambda: not any(alive(p) for p in pids), timeout=15, what="processes to exit")
    assert not gameday.registry.exists() or not any(gameday.registry.iterdir())
