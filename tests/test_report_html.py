"""A real `chaoskit run` (with --metrics-port scraped by a real Prometheus) and its
report.html, opened in headless Chromium: it renders
(a screenshot that is not blank), it contains the scorecard and the plots (the DOM),
it makes no network request (every http(s) request Chromium attempts goes to a
counting proxy we own, and a known-bad page proves the proxy sees them); plus the
`chaoskit report` command (re-render, --compare, usage errors) and the checker's
counterexample embedded for a non-linearizable run."""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import chromium as run_chromium
from helpers import free_port

from chaoskit.report.checks import evaluate
from chaoskit.report.cli import report as report_cmd
from chaoskit.testing.synthetic import SyntheticSpec, topology_of, write_synthetic_run

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboards" / "chaoskit.json"


@dataclass
class RealRun:
    run_dir: Path
    prometheus_api: (
        str | None
    )  # a Prometheus that scraped the run's live metrics (None: not installed)
    wall_start: float
    wall_end: float


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Iterator[RealRun]:
    """A real short smoke run (3 geokv nodes, links, Locust load, Xi'an cut for 4 s),
    with its live metrics scraped by Debian's prometheus when it is installed."""
    out = tmp_path_factory.mktemp("results")
    metrics_port = free_port()
    prom = api = None
    log = None
    if shutil.which("prometheus"):
        prom_port = free_port()
        (out / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: chaoskit\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        )
        api = f"http://127.0.0.1:{prom_port}"
        log = (out / "prometheus.log").open("w")
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={out / 'prometheus.yml'}",
                f"--storage.tsdb.path={out / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if prom is not None:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if urllib.request.urlopen(f"{api}/-/ready", timeout=2).status == 200:
                        break
                except OSError:
                    pass
                assert prom.poll() is None, (out / "prometheus.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "prometheus did not become ready"
                time.sleep(0.2)
        wall_start = time.time()
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "chaoskit"),
                "run",
                str(ROOT / "experiments" / "smoke.yaml"),
                "--results",
                str(out),
                "--quiet",
                "--metrics-port",
                str(metrics_port),
                "--set",
                "load.duration=10s",
                "--set",
                "schedule.0.at=3s",
                "--set",
                "schedule.0.for=4s",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=120,
            cwd=out,
        )
        wall_end = time.time()
        assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
        run_dir = (out / "smoke" / "latest").resolve()
        assert (run_dir / "report.html").exists()
        time.sleep(1.5 if prom is not None else 0)  # the last scrape
        yield RealRun(run_dir, api, wall_start, wall_end)
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        if log is not None:
            log.close()


@pytest.fixture
def real_run(real: RealRun) -> Path:
    return real.run_dir


# Chromium's own service traffic (component updater, sign-in, network time), which
# no flag fully silences in this build; anything else the proxy sees came from the page.
BROWSER_HOSTS = {
    "clients2.google.com", "update.googleapis.com", "accounts.google.com", "clientservices.googleapis.com",
    "redirector.gvt1.com", "safebrowsing.googleapis.com", "optimizationguide-pa.googleapis.com",
    "content-autofill.googleapis.com", "edgedl.me.gvt1.com", "www.google.com",
}  # fmt: skip


def page_requests(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        parts = line.split()
        target = parts[1] if len(parts) > 1 else line
        host = target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if host not in BROWSER_HOSTS:
            out.append(line)
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every expression of the dashboard, Grafana variables substituted."""
    dash = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel {p['title']!r}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for a in dash["annotations"]["list"]:
        if "expr" in a:
            out.append((f"annotation {a['name']!r}", a["expr"]))
    for v in dash["templating"]["list"]:
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
        assert m, f"template variable {v['name']}: unexpected query {q}"
        out.append((f"variable ${v['name']}", f"group by ({m.group(2)}) ({m.group(1)})"))
    # 3 s = three 1 s scrapes: short enough that a 4 s cut fills a whole window.
    subst = {"$__rate_interval": "3s", "$__interval": "1s", "$region": ".*"}
    res = []
    for where, q in out:
        for k, val in subst.items():
            q = q.replace(k, val)
        assert "$" not in q, f"{where}: unsubstituted variable in {q}"
        res.append((where, q))
    return res


def prom_query(api: str, q: str, at: float) -> list:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{at:.3f}"})
    doc = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


class _Proxy:
    """A TCP listener standing in for Chromium's proxy: records every request line."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.requests.append(
                        conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                    )
                    conn.sendall(
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    self.requests.append("<connection>")

    def close(self) -> None:
        self.sock.close()


def chromium(page: Path, tmp_path: Path, proxy: _Proxy, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return run_chromium(
        page.as_uri(), profile,
        "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--no-pings",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection",
        # Every http(s) request, loopback included, goes to our counting proxy.
        f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
        "--virtual-time-budget=3000", *args,
    )  # fmt: skip


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        for k, v in attrs:
            if k in ("src", "href", "action", "poster", "data") and v is not None:
                self.refs.append((tag, k, v))


def external_refs(html: str) -> list[tuple[str, str, str]]:
    p = _Refs()
    p.feed(html)
    return [
        r
        for r in p.refs
        if r[2].strip().lower().startswith(("http:", "https:", "//", "ftp:", "ws:", "wss:"))
    ]


@pytest.mark.slow  # shares one real ~20 s run (module fixture)
def test_real_run_scorecard_numbers_come_from_its_history(real_run):
    doc = json.loads((real_run / "check.json").read_text())
    recs = [
        json.loads(x) for x in (real_run / "history.jsonl").read_text().splitlines() if x.strip()
    ]
    apply = next(
        json.loads(x)
        for x in (real_run / "events.jsonl").read_text().splitlines()
        if '"apply"' in x
    )
    heal = next(
        json.loads(x) for x in (real_run / "events.jsonl").read_text().splitlines() if '"heal"' in x
    )
    # Shanghai while Xi'an was cut, with plain Python.
    inv, pairs = {}, []
    for r in recs:
        if r.get("phase") == "final":
            continue
        if r["type"] == "invoke":
            inv[r["process"]] = r
        else:
            pairs.append((inv.pop(r["process"]), r))
    in_phase = [
        (i, c)
        for i, c in pairs
        if i["region"] == "shanghai" and apply["time"] <= i["time"] < heal["time"]
    ]
    pending = [
        i
        for i in inv.values()
        if i["region"] == "shanghai" and apply["time"] <= i["time"] < heal["time"]
    ]
    n = len(in_phase) + len(pending)
    ok = sorted((c["time"] - i["time"]) / 1e6 for i, c in in_phase if c["type"] == "ok")
    row = next(
        r
        for r in doc["scorecard"]["rows"]
        if r["region"] == "shanghai" and r["phase"] == "during:f1"
    )
    assert n > 0 and row["requests"] == n
    assert row["success_rate"] == pytest.approx(len(ok) / n)
    assert row["p99_ms"] == pytest.approx(ok[math.ceil(0.99 * len(ok)) - 1])
    # Xi'an's own clients were not served while it was cut off.
    xian = next(
        r for r in doc["scorecard"]["rows"] if r["region"] == "xian" and r["phase"] == "during:f1"
    )
    assert xian["success_rate"] is None or xian["success_rate"] < 0.5
    assert doc["linearizability"]["verdict"] in ("linearizable", "not-linearizable", "unknown")
    assert {r["region"] for r in doc["scorecard"]["rto"]} == {"beijing", "shanghai", "xian"}


@pytest.mark.slow  # shares one real ~20 s run (module fixture)
def test_report_opens_offline_and_shows_everything(real_run, tmp_path, need_chromium):
    html = (real_run / "report.html").read_text()
    assert external_refs(html) == []
    assert "<script" not in html.lower()  # no JS needed: SVG plots, CSS only
    proxy = _Proxy()
    try:
        shot = tmp_path / "report.png"
        r = chromium(
            real_run / "report.html",
            tmp_path,
            proxy,
            "--window-size=1280,2600",
            f"--screenshot={shot}",
        )
        assert shot.exists(), r.stderr[-2000:]
        dom = chromium(real_run / "report.html", tmp_path, proxy, "--dump-dom").stdout
        # Known-bad control: a page with one remote image must reach the proxy.
        bad = tmp_path / "bad.html"
        bad.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
        assert external_refs(bad.read_text())
        seen_before = list(proxy.requests)
        chromium(bad, tmp_path, proxy, "--dump-dom")
    finally:
        proxy.close()
    assert page_requests(seen_before) == [], f"report.html made network requests: {seen_before}"
    assert any("example.invalid" in x for x in page_requests(proxy.requests)), (
        "the proxy missed the known-bad request"
    )
    # The DOM: verdict, scorecard rows for every region and phase, plots, topology, files.
    for needle in (
        'id="verdict"',
        'id="scorecard"',
        'id="rto"',
        'id="timeline"',
        'id="latency"',
        'id="throughput"',
        'id="topology"',
    ):
        assert needle in dom, needle
    for region in ("beijing", "shanghai", "xian"):
        for phase in ("before", "during:f1", "after", "all"):
            assert f'data-region="{region}" data-phase="{phase}"' in dom
    assert dom.count("<svg") >= 4
    assert "cut by f1" in dom and "ms RTT" in dom
    assert 'href="history.jsonl"' in dom and 'href="events.jsonl"' in dom
    # The engine renders the report before it drops the INCOMPLETE marker (its last
    # step): a finished run must not link a marker that no longer exists.
    assert not (real_run / "INCOMPLETE").exists() and 'href="INCOMPLETE"' not in dom
    # The latency axes are readable: more than one labelled tick per region panel
    # (a log axis labelled only at powers of ten shows just "100" for a 30-400 ms run).
    lat = dom[dom.index('id="latency"') : dom.index('id="throughput"')]
    steps = {"10", "20", "50", "100", "200", "500", "1000", "2000", "5000"}
    labels = set(re.findall(r">(\d+)</text>", lat)) & steps
    assert len(labels) >= 3, labels
    # The screenshot is a rendered page, not a blank one.
    import numpy as np
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    ink = float((px.min(axis=1) < 200).mean())  # text, lines, points, bars: not the light page
    colours = len(np.unique(px[::7] @ np.array([65536, 256, 1])))
    assert ink > 0.03 and colours > 200, (ink, colours)
    # The plot colours are there: ok-green points / lines, and the dark header bar.
    green = (abs(px[:, 0] - 0x2F) < 25) & (abs(px[:, 1] - 0x9E) < 25) & (abs(px[:, 2] - 0x5F) < 25)
    dark = (px.max(axis=1) < 50).mean()
    assert green.sum() > 50 and dark > 0.005, (int(green.sum()), dark)


@pytest.mark.slow  # shares one real ~20 s run (module fixture)
def test_report_command_rerenders_and_compares(real_run, tmp_path):
    synth = write_synthetic_run(
        tmp_path / "synthetic" / "run", SyntheticSpec(duration_s=5, cut_at_s=1.5, cut_for_s=2)
    )
    evaluate(synth, {"checks": {"linearizable": True}}, topology_of(SyntheticSpec()))
    (real_run / "report.html").unlink()
    runner = CliRunner()
    r = runner.invoke(report_cmd, [str(real_run)])
    assert r.exit_code in (0, 1), r.output
    assert (real_run / "report.html").exists() and "wrote" in r.output and "xian" in r.output
    out = tmp_path / "cmp.html"
    r = runner.invoke(report_cmd, ["--compare", str(real_run), str(synth), "--html", str(out)])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert "scorecard A vs B" in r.output and "RTO A vs B" in r.output
    assert 'data-region="xian" data-phase="during:f1"' in page and external_refs(page) == []
    assert "report.html" in page
    # At a glance: verdict, linearizability, lost writes, success, p99, worst RTO for A and B.
    glance = page[page.index('id="glance"') : page.index('id="scorecards"')]
    for what in ("verdict", "linearizability", "acknowledged writes lost", "success rate, all regions",
                 "p99 latency, all regions", "worst RTO"):  # fmt: skip
        assert f">{what}</td>" in glance, what
    real_check = json.loads((real_run / "check.json").read_text())
    total = next(
        r for r in real_check["scorecard"]["rows"] if r["region"] == "*" and r["phase"] == "all"
    )
    assert f"{100 * total['success_rate']:.1f}%" in glance
    # Usage errors: exit 2 with what would be valid.
    r = runner.invoke(report_cmd, ["--compare", str(real_run)])
    assert r.exit_code == 2 and "exactly two runs" in r.output
    (tmp_path / "not-a-run").mkdir()
    r = runner.invoke(report_cmd, [str(tmp_path / "not-a-run")])
    assert r.exit_code == 2 and "not a chaoskit run directory" in r.output
    r = runner.invoke(report_cmd, [str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "nothing: no such directory" in r.output
    # results/<experiment> means its latest run.
    r = runner.invoke(report_cmd, [str(real_run.parent), "-q"])
    assert r.exit_code in (0, 1) and str(real_run) in r.output


def test_counterexample_is_embedded_when_not_linearizable(tmp_path):
    spec = SyntheticSpec(duration_s=5.0, cut_at_s=1.5, cut_for_s=1.5, seed=4, stale_read=True)
    run = write_synthetic_run(tmp_path / "run", spec)
    rep = evaluate(run, {"checks": {"linearizable": True}}, topology_of(spec))
    assert rep.linearizability["verdict"] == "not-linearizable"
    html = (run / "report.html").read_text()
    assert (run / "linearizability.html").exists()
    assert '<iframe class="cex"' in html and "srcdoc=" in html
    assert 'href="linearizability.html"' in html
    assert external_refs(html) == []
    assert "FAILED" in html and "not linearizable" in html


@pytest.mark.slow  # shares one real ~20 s run (module fixture)
def test_every_dashboard_expression_returns_data_from_the_real_run(real, need_prometheus):
    """Prometheus scraped the run's --metrics-port every second; every expression of
    dashboards/chaoskit.json is evaluated through /api/v1/query at instants across the run."""
    api = real.prometheus_api
    instants = [
        real.wall_start + i * 0.5 for i in range(int((real.wall_end - real.wall_start) / 0.5) + 1)
    ]
    queries = dashboard_queries()
    assert len(queries) >= 12
    for where, q in queries:
        hits = [at for at in instants if prom_query(api, q, at)]
        assert hits, f"{where}: `{q}` returned no data at any moment of the run"
    # And the data means what it says: Xi'an's availability fell while it was cut.
    avail = next(q for w, q in queries if "Availability" in w)
    xian = [
        float(r["value"][1])
        for at in instants
        for r in prom_query(api, avail, at)
        if r["metric"].get("region") == "xian" and r["value"][1] != "NaN"
    ]
    assert xian and min(xian) < 0.5 and max(xian) > 0.7, xian
