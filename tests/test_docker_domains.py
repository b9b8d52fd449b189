"""Zone and node faults on the docker backend, run for real (bounded short runs):
a lost data centre leaves its city serving; a majorities ring over 5 etcd members
keeps the history linearizable (every member behind its own link to each peer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import docker_ok, need
from test_engine_experiments import row, rto, run

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _docker() -> None:
    need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")


@pytest.mark.slow
def test_zone_lost_on_docker_city_keeps_serving(tmp_path: Path) -> None:
    code, _, check, events = run(
        "zone-lost", tmp_path, "backend=docker", "load.duration=12s", "schedule.0.for=6s"
    )
    assert code == 0, check["failures"]
    assert check["linearizability"]["verdict"] == "linearizable"
    assert row(check, "beijing", "during")["success_rate"] > 0.9
    assert rto(check, "f1", "beijing") < 1.0
    applied = next(e for e in events if e["event"] == "apply")
    links = applied["targets"]["links"]
    # the DC's own city loses it: its clients' links and its region-mates' node links
    assert {"beijing->beijing-1:http", "beijing-3->beijing-1:http"} <= set(links)
    assert "beijing->beijing-3:http" not in links
    assert "beijing-3->beijing-4:http" not in links


@pytest.mark.slow
def test_etcd_majorities_ring_stays_linearizable(tmp_path: Path) -> None:
    code, run_dir, check, events = run("etcd-majorities-ring", tmp_path, "load.duration=16s")
    assert code == 0, check["failures"]
    assert check["linearizability"]["verdict"] == "linearizable"
    applied = next(e for e in events if e["event"] == "apply")
    views = applied["targets"]["views"]
    assert len(views) == 5 and all(len(v) == 3 for v in views.values())
    # the ring really separated members: etcd saw peers become unreachable
    logs = "".join(p.read_text(errors="replace") for p in (run_dir / "logs").glob("beijing-*.log"))
    assert "peer became inactive" in logs
