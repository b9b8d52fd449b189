"""`chaoskit compose`: the file Debian's docker-compose accepts, and that really
runs: etcd members meet through the links container with the latency applied."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner
from conftest import need

from chaoskit.backends.docker.cli import compose
from chaoskit.testing.docker import compose_test_project, leftovers

ROOT = Path(__file__).resolve().parent.parent
EXP = ROOT / "experiments" / "etcd-three-regions.yaml"


def write(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "etcd.yml"
    res = CliRunner().invoke(compose, [str(EXP), "-o", str(out), *extra])
    assert res.exit_code == 0, res.output
    return out


def test_compose_file_shape(tmp_path):
    import yaml

    out = write(tmp_path)
    doc = yaml.safe_load(out.read_text())
    links = json.loads((tmp_path / "etcd.links.json").read_text())
    assert set(doc["networks"]) == {"us-east", "eu-west", "ap-northeast"}
    nodes = {k: v for k, v in doc["services"].items() if k not in ("links", "links-init")}
    assert sorted(nodes) == ["ap-northeast-1", "eu-west-1", "eu-west-2", "us-east-1", "us-east-2"]
    assert all(v["hostname"] == k and v["command"][0] == "etcd" for k, v in nodes.items())
    # on us-east's network the links container answers for every node outside us-east
    aliases = doc["services"]["links"]["networks"]["us-east"]["aliases"]
    assert {"eu-west-1", "eu-west-2", "ap-northeast-1"} <= set(aliases)
    assert "us-east-1" not in aliases
    # one proxy per (region, remote node, port), each with latency both ways
    assert len(links["proxies"]) == (3 + 3 + 4) * 2  # us-east, eu-west see 3; ap-northeast 4
    tox = links["toxics"]["us-east->eu-west-1:client"]
    assert {t["stream"] for t in tox} == {"upstream", "downstream"}
    assert all(t["type"] == "latency" and t["attributes"]["latency"] > 20 for t in tox)


def test_compose_usage_errors(tmp_path):
    res = CliRunner().invoke(compose, [str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "no such file" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXP.read_text().replace("backend: docker", "backend: local"))
    res = CliRunner().invoke(compose, [str(bad), "-o", str(tmp_path / "x.yml")])
    assert res.exit_code == 2 and "backend: docker" in res.output


@pytest.mark.docker
@pytest.mark.slow
def test_docker_compose_accepts_and_runs_it(need_docker, tmp_path):
    from chaoskit.backends.docker.image import ensure_image

    dc = shutil.which("docker-compose")
    # under CI=true a missing docker-compose is a failure, never a skip
    need("docker-compose", dc is not None, "apt-get install docker-compose")
    assert dc is not None
    ensure_image()
    # A name of our own: its own run label (for the leftover check) and its own
    # subnet seed, so a concurrent run of this test (another checkout) cannot collide.
    name = f"ckt-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    out = write(tmp_path, "--set", f"name={name}")
    project = compose_test_project()
    base = [dc, "-p", project, "-f", str(out)]
    cfg = subprocess.run([*base, "config", "-q"], capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stderr
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr[-2000:]
        port = subprocess.run([*base, "port", "links", "8474"], capture_output=True, text=True)
        api = "http://" + port.stdout.strip()
        # the link server listens beyond loopback in its container: the file's token
        doc = yaml.safe_load(out.read_text())
        token = doc["services"]["links"]["environment"]["CHAOSKIT_LINKS_TOKEN"]
        assert requests.get(f"{api}/proxies", timeout=5).status_code == 401
        # links-init populated the proxies and their latency
        end = time.monotonic() + 60
        while True:
            try:
                proxies = requests.get(
                    f"{api}/proxies", headers={"X-Chaoskit-Token": token}, timeout=2
                ).json()
                if len(proxies) == 20 and all(p["toxics"] for p in proxies.values()):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < end, "links-init did not populate the links"
            time.sleep(0.5)
        # the five members found each other through the links: etcd reports health
        ip = subprocess.run(
            [*base, "exec", "-T", "ap-northeast-1", "hostname", "-i"],
            capture_output=True,
            text=True,
        ).stdout.split()[0]
        doc_port = [p for p in proxies.values() if p["name"].endswith("->ap-northeast-1:client")][0]
        url = f"http://{ip}:{doc_port['upstream'].split(':')[1]}/health"
        while True:
            try:
                if requests.get(url, timeout=2).json().get("health") == "true":
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < end + 60, f"etcd in compose never became healthy ({url})"
            time.sleep(0.5)
    finally:
        subprocess.run([*base, "down", "-v", "-t", "1"], capture_output=True, timeout=180)
    assert leftovers(f"compose-{name}") == []
