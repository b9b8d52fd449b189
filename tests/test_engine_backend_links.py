"""make_backend honours the experiment's `links:` section: a Toxiproxy image reaches
the docker backend (no Toxiproxy image exists here, so this checks the wiring; a
DockerBackend is built without touching the docker engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.engine import make_backend
from chaoskit.experiment import load_experiment_text
from chaoskit.results import RunDir

EXP = """\
name: links-wiring
backend: docker
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
system: {kind: geokv, mode: quorum}
load: {duration: 5s}
links: {server: toxiproxy, image: example.invalid/toxiproxy:2.9.0}
"""


def test_docker_backend_gets_the_experiments_toxiproxy_image(tmp_path: Path) -> None:
    exp = load_experiment_text(EXP)
    assert exp.links.server == "toxiproxy"
    run = RunDir.create(tmp_path / "results", exp.name)
    be = make_backend("docker", run, exp)
    try:
        assert type(be).__name__ == "DockerBackend"
        assert be.links_image == "example.invalid/toxiproxy:2.9.0"
        assert be.run_id == run.run_id
        assert be.logs_dir == run.path / "logs"
        # Construction is lazy: no docker client was made, so no engine was needed.
        assert be._client is None
    finally:
        be.down()
    assert not be.workdir.exists()  # its temporary workdir is gone after down()


def test_builtin_links_leave_links_image_unset(tmp_path: Path) -> None:
    exp = load_experiment_text(
        EXP.replace("links: {server: toxiproxy, image: example.invalid/toxiproxy:2.9.0}\n", "")
    )
    assert exp.links.server == "builtin"
    run = RunDir.create(tmp_path / "results", exp.name)
    be = make_backend("docker", run, exp)
    try:
        assert be.links_image is None
    finally:
        be.down()


def test_docker_toxiproxy_without_image_is_refused(tmp_path: Path) -> None:
    # The experiment validated for the local backend (url only), then run on docker.
    exp = load_experiment_text(
        EXP.replace("backend: docker", "backend: local").replace(
            "image: example.invalid/toxiproxy:2.9.0", "url: http://127.0.0.1:1"
        )
    )
    run = RunDir.create(tmp_path / "results", exp.name)
    with pytest.raises(RuntimeError, match=r"links\.image"):
        make_backend("docker", run, exp)
