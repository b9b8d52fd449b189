"""`--engines`: the region -> engine map, its errors, and the routing of links."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.backends.docker.engines import EngineRef, EnginesError, parse_engines
from chaoskit.links.multi import MultiLinkControl

REGIONS = ["us-east", "eu-west", "ap-northeast"]
ROOT = Path(__file__).resolve().parent.parent


def test_region_url_pairs_and_hosts() -> None:
    text = "us-east=tcp://10.0.0.1:2375,eu-west=tcp://10.0.0.2:2375,ap-northeast=ssh://ops@host-c"
    m = parse_engines(text, REGIONS)
    assert m == {
        "us-east": EngineRef("tcp://10.0.0.1:2375", "10.0.0.1"),
        "eu-west": EngineRef("tcp://10.0.0.2:2375", "10.0.0.2"),
        "ap-northeast": EngineRef("ssh://ops@host-c", "host-c"),
    }
    m = parse_engines("eu-west=unix:///tmp/a.sock", REGIONS)
    assert m == {"eu-west": EngineRef("unix:///tmp/a.sock", None)}


def test_yaml_file_with_hosts(tmp_path: Path) -> None:
    f = tmp_path / "engines.yaml"
    f.write_text(
        "us-east: {url: unix:///run/a.sock, host: 192.0.2.10}\neu-west: tcp://192.0.2.11:2375\n"
        "ap-northeast: {url: ssh://ops@192.0.2.12}\n"
    )
    m = parse_engines(str(f), REGIONS)
    assert m["us-east"] == EngineRef("unix:///run/a.sock", "192.0.2.10")
    assert m["eu-west"].host == "192.0.2.11"


@pytest.mark.parametrize(
    "text, words",
    [
        ("mars=tcp://h:1", "no region 'mars' in the topology; regions: us-east, eu-west"),
        ("eu-west", "expected REGION=URL"),
        ("eu-west=http://h:1", "give unix:///path, tcp://HOST:PORT, ssh://USER@HOST"),
        ("eu-west=no-such-context-ckt", "neither a URL"),
        ("eu-west=tcp://h:1", "give `host` for default (regions us-east, ap-northeast)"),
    ],
)
def test_mistakes_are_named(text: str, words: str) -> None:
    with pytest.raises(EnginesError) as e:
        parse_engines(text, REGIONS)
    assert words in str(e.value)


def test_run_with_engines_needs_docker_backend() -> None:
    p = subprocess.run(
        [str(Path(sys.executable).parent / "chaoskit"), "run", str(ROOT / "experiments/smoke.yaml"),
         "--engines", "xian=unix:///tmp/none.sock"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2 and "needs the docker backend" in p.stderr


class _Recorder:
    def __init__(self, key: str, log: list, fail: bool = False) -> None:
        self.key, self.log, self.fail, self.api_url = key, log, fail, f"http://{key}"

    def cut(self, names, direction="both", mode="blackhole"):
        if self.fail:
            raise RuntimeError(f"{self.key} refused")
        self.log.append(("cut", self.key, tuple(names)))

    def heal(self, names):
        self.log.append(("heal", self.key, tuple(names)))


def test_operations_split_by_source_engine_and_roll_back() -> None:
    log: list = []
    route = {"a->x-1:p": "A", "b->y-1:p": "B", "a->y-1:p": "A"}.__getitem__
    multi = MultiLinkControl({"A": _Recorder("A", log), "B": _Recorder("B", log)}, route)
    multi.cut(["a->x-1:p", "b->y-1:p", "a->y-1:p"])
    assert log == [("cut", "A", ("a->x-1:p", "a->y-1:p")), ("cut", "B", ("b->y-1:p",))]
    log.clear()
    broken = MultiLinkControl(
        {"A": _Recorder("A", log), "B": _Recorder("B", log, fail=True)}, route
    )
    with pytest.raises(RuntimeError, match="B refused"):
        broken.cut(["a->x-1:p", "b->y-1:p"])
    assert log == [("cut", "A", ("a->x-1:p",)), ("heal", "A", ("a->x-1:p",))]  # undone
