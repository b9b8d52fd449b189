"""A system kind from a distribution outside chaoskit's tree (tests/plugins/toykv,
its own pyproject registering the `chaoskit.systems` entry point): installed into a
target directory, listed by `chaoskit systems`, validated, and run end to end on
the local backend with the load in its separate Locust process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")

EXPERIMENT = """\
name: toykv-cut
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 0}}
  clients: {beijing: 2, xian: 2}
system: {kind: toykv}
load: {workload: cas-register, keys: 3, duration: 8s, rate: 40, timeout: 1s}
schedule:
  - {at: 2s, for: 3s, fault: cut-region, region: xian}
checks:
  linearizable: true
  availability: {region: beijing, phase: during, min: 0.9}
"""


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a machine where chaoskit-toykv is installed (pip, into a
    target directory on PYTHONPATH: the shared venv stays as it was)."""
    tmp = tmp_path_factory.mktemp("toykv")
    src = tmp / "src"
    shutil.copytree(ROOT / "tests" / "plugins" / "toykv", src)  # builds write into it
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
        + ["--target", str(target), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH")) if p)
    return env


def _chaoskit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHAOSKIT, *args], capture_output=True, text=True, timeout=240, cwd=ROOT, env=env
    )


def test_listed_with_its_distribution(plugin_env: dict[str, str]) -> None:
    r = _chaoskit(plugin_env, "systems")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "toykv: toykv_chaos.adapter:ToyKVAdapter  (distribution chaoskit-toykv 0.1.0)" in (
        r.stdout
    )
    assert "geokv: chaoskit.systems.geokv.adapter:GeoKVAdapter" in r.stdout
    without = _chaoskit(dict(os.environ), "systems")
    assert "toykv" not in without.stdout


def test_plugin_checks_its_own_block(plugin_env: dict[str, str], tmp_path: Path) -> None:
    exp = tmp_path / "bad.yaml"
    exp.write_text(EXPERIMENT.replace("{kind: toykv}", "{kind: toykv, speed: 3}"))
    r = _chaoskit(plugin_env, "validate", str(exp))
    assert r.returncode == 2
    assert f"{exp}:7: system.speed: toykv takes no options" in r.stderr


def test_init_offers_the_plugins_starter(plugin_env: dict[str, str], tmp_path: Path) -> None:
    exp = tmp_path / "toy.yaml"
    r = _chaoskit(plugin_env, "init", str(exp), "--system", "toykv")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "system: {kind: toykv}" in exp.read_text()
    r = _chaoskit(plugin_env, "validate", str(exp))
    assert r.returncode == 0, r.stdout + r.stderr
    # without the plugin installed the kind is unknown, and the valid names are listed
    r = _chaoskit(dict(os.environ), "init", str(tmp_path / "x.yaml"), "--system", "toykv")
    assert r.returncode == 2 and "toykv" in r.stderr and "redis-sentinel" in r.stderr


@pytest.mark.slow
def test_plugin_runs_end_to_end(plugin_env: dict[str, str], tmp_path: Path) -> None:
    exp = tmp_path / "toykv.yaml"
    exp.write_text(EXPERIMENT)
    r = _chaoskit(plugin_env, "run", "-q", str(exp), "--results", str(tmp_path / "results"))
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    checks = json.loads((run_dir / "check.json").read_text())["checks"]
    assert [c["check"] for c in checks] == ["linearizable", "availability"]
    assert all(c["passed"] for c in checks), checks
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    # the Locust process built ToyKVClients (it found the plugin by its entry point)
    assert {o["node"] for o in ops} == {"beijing-1"}
    assert sum(o["type"] == "ok" and o["f"] == "cas" for o in ops) > 0
    assert "toykv listening" in (run_dir / "logs" / "beijing-1.log").read_text()
