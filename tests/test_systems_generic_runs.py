"""Shipped experiments whose system is described only in YAML, run end to end:
Debian's redis-server as one primary (local and docker), geokv through the
generic spec (local)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def _run(exp: str, results: Path, *args: str) -> Path:
    p = subprocess.run(
        [CHAOSKIT, "run", "-q", f"experiments/{exp}.yaml", "--results", str(results), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    checks = json.loads((run_dir / "check.json").read_text())["checks"]
    assert {c["check"] for c in checks} >= {"linearizable", "rto", "availability"}
    assert all(c["passed"] for c in checks), checks
    return run_dir


def _need_redis() -> None:
    ok = shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None
    need("redis-server and redis-cli", ok, "apt-get install redis-server")


@pytest.mark.slow
def test_redis_primary_local(tmp_path: Path) -> None:
    _need_redis()
    run_dir = _run("generic-redis", tmp_path)
    log = (run_dir / "logs" / "beijing-1.log").read_text()
    assert "redis-server" in log.splitlines()[0]


@pytest.mark.slow
@pytest.mark.docker
def test_redis_primary_docker_runs_the_named_image(tmp_path: Path, need_docker: None) -> None:
    _need_redis()  # redis-cli: the command client runs on the harness's host
    built = subprocess.run(
        [CHAOSKIT, "image", "build", "--packages", "redis-server"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert built.returncode == 0, built.stderr
    tag = built.stdout.strip().splitlines()[-1]
    assert tag.startswith("chaoskit-system:")
    run_dir = _run(
        "generic-redis",
        tmp_path,
        "--backend",
        "docker",
        "--set",
        f"system.image={tag}",
        "--set",
        "system.packages=[]",
    )
    first = (run_dir / "logs" / "beijing-1.log").read_text().splitlines()[0]
    assert first.startswith(f"--- chaoskit: starting beijing-1 from image {tag}: ")


@pytest.mark.slow
def test_geokv_from_the_generic_spec_local(tmp_path: Path) -> None:
    run_dir = _run("generic-geokv", tmp_path)
    log = (run_dir / "logs" / "xian-1.log").read_text()
    assert log.count("--peer") == 3  # each_peer: one flag per member


@pytest.mark.docker
def test_missing_image_refused_before_anything_starts(tmp_path: Path, need_docker: None) -> None:
    r = subprocess.run(
        [CHAOSKIT, "run", "experiments/generic-redis.yaml", "--backend", "docker"]
        + ["--set", "system.image=chaoskit-no-such-image:0", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "system.image: 'chaoskit-no-such-image:0' is not on this Docker engine" in r.stderr
    assert not any(tmp_path.iterdir())
