"""Live metrics: the tailer and the /metrics endpoint (the dashboard against a real
Prometheus and a real run is in tests/test_report_html.py, sharing its run)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from chaoskit.report.live import LiveMetrics
from chaoskit.testing.synthetic import SyntheticSpec, stream_synthetic_run, topology_of


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_live_metrics_follow_the_files_as_they_grow(tmp_path):
    spec = SyntheticSpec(duration_s=3.0, cut_at_s=1.0, cut_for_s=1.2, seed=3)
    run = tmp_path / "run"
    m = LiveMetrics(topology_of(spec), poll_s=0.05)
    # Started before the files exist, as in a real run.
    port = m.start(run / "history.jsonl", run / "events.jsonl", 0)
    try:
        writer = stream_synthetic_run(run, spec)
        seen_cut = False
        deadline = time.monotonic() + 10
        while writer.is_alive() and time.monotonic() < deadline:
            got = scrape(port)
            if got.get('chaoskit_fault_active{fault="cut-region",id="f1"}') == 1.0:
                seen_cut = True
                assert got["chaoskit_links_cut"] > 0
                assert (
                    got[
                        'chaoskit_link_cut{dest_region="xian",link="beijing->xian-1:http",source_region="beijing"}'
                    ]
                    == 1.0
                )
            time.sleep(0.1)
        writer.join(5)
        # A torn line (writer mid-append) is held back until its newline arrives.
        with (run / "history.jsonl").open("a") as fh:
            fh.write(
                '{"index": 999999, "process": 424242, "type": "invoke", "f": "read", "key": "k0", '
            )
            fh.flush()
            time.sleep(0.3)
            fh.write('"value": null, "time": 99000000000, "region": "xian", "node": "xian-1"}\n')
    finally:
        m.stop()
    assert seen_cut, "the cut was never visible on /metrics while it lasted"
    recs = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    for region in ("beijing", "shanghai", "xian"):
        for outcome in ("ok", "fail", "info"):
            want = sum(1 for r in recs if r["region"] == region and r["type"] == outcome)
            got = sum(
                m.registry.get_sample_value(
                    "chaoskit_operations_total", {"region": region, "f": f, "outcome": outcome}
                )
                or 0
                for f in ("read", "write")
            )
            assert got == want, (region, outcome)
    assert (
        m.registry.get_sample_value("chaoskit_operations_in_flight", {"region": "xian"}) == 1
    )  # the late invoke
    assert (
        m.registry.get_sample_value("chaoskit_fault_active", {"id": "f1", "fault": "cut-region"})
        == 0
    )
    assert m.registry.get_sample_value("chaoskit_links_cut") == 0
    # The endpoint is closed after stop().
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_observability_compose_provisions_the_dashboard_it_ships():
    """compose/observability.yml is valid for docker-compose, and its pieces agree:
    Prometheus scrapes the metrics port every second, Grafana's datasource has the uid
    the dashboard uses, and the provisioned folder is where the dashboard is mounted."""
    import shutil
    import subprocess
    from pathlib import Path

    import yaml
    from conftest import need

    root = Path(__file__).resolve().parent.parent
    compose = root / "compose" / "observability.yml"
    need(
        "docker-compose",
        shutil.which("docker-compose") is not None,
        "apt-get install docker-compose",
    )
    out = subprocess.run(
        ["docker-compose", "-f", str(compose), "config"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    cfg = yaml.safe_load(out.stdout)
    prom, graf = cfg["services"]["prometheus"], cfg["services"]["grafana"]
    mounts = {}
    for v in graf["volumes"] + prom["volumes"]:  # short ("src:dst:ro") or long syntax
        src, dst = (
            (v.split(":")[0], v.split(":")[1])
            if isinstance(v, str)
            else (v.get("source"), v["target"])
        )
        mounts[dst] = src
    assert (
        Path(mounts["/etc/prometheus/prometheus.yml"]).resolve()
        == root / "compose" / "prometheus.yml"
    )
    assert (
        Path(mounts["/etc/grafana/provisioning"]).resolve()
        == root / "compose" / "grafana" / "provisioning"
    )
    dash_dir = "/var/lib/grafana/dashboards/chaoskit"
    assert Path(mounts[dash_dir]).resolve() == root / "dashboards"
    scrape = yaml.safe_load((root / "compose" / "prometheus.yml").read_text())
    assert scrape["global"]["scrape_interval"] == "1s"
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    prov = root / "compose" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "chaoskit.yml").read_text())["datasources"][0]
    dashboards = yaml.safe_load((prov / "dashboards" / "chaoskit.yml").read_text())["providers"][0]
    assert dashboards["options"]["path"] == dash_dir
    dash = json.loads((root / "dashboards" / "chaoskit.json").read_text())
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
    assert uids == {ds["uid"]} and ds["url"].endswith(":9090")
