"""Shared test helpers.

`need(what, ok, why)`: a test that needs a tool this machine lacks is skipped with
the reason, except under CI=true, where `.ci/run` installs everything and a missing
tool is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A suite started as a background job of a non-interactive shell (as CI scripts often
# start it) inherits SIGINT *ignored*, and so does every process a test starts: a
# harness sent SIGINT by a test would not notice it, and the test would kill it
# halfway through its teardown after waiting in vain. Tests that interrupt a
# harness need Ctrl-C to reach it, as it does from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def need(what: str, ok: bool, how: str) -> None:
    if ok:
        return
    msg = f"{what} is not available here ({how})"
    if IN_CI:
        pytest.fail(f"{msg}; .ci/run must install it, so under CI=true this is a failure")
    pytest.skip(msg)


def docker_ok() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.fixture
def need_docker() -> None:
    need("a Docker engine", docker_ok(), "apt-get install docker.io and start dockerd")


@pytest.fixture(autouse=True)
def _no_docker_leftovers(request: pytest.FixtureRequest):
    """After every Docker test (marker `docker`), no chaoskit-labelled container,
    network or volume it created remains (issue 6). Resources of other live
    harnesses on this shared machine are not counted (testing.new_leftovers)."""
    if request.node.get_closest_marker("docker") is None or not docker_ok():
        yield
        return
    from chaoskit.testing.docker import new_leftovers, snapshot

    before = snapshot()
    yield
    left = new_leftovers(before)
    assert not left, f"the test left chaoskit-labelled docker resources behind: {left}"


@pytest.fixture
def need_etcd() -> None:
    need("etcd", shutil.which("etcd") is not None, "apt-get install etcd-server")


@pytest.fixture
def need_faketime() -> None:
    from pathlib import Path

    libs = list(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    need("libfaketime", bool(libs), "apt-get install libfaketime")


@pytest.fixture
def need_chromium() -> None:
    need("chromium", shutil.which("chromium") is not None, "apt-get install chromium")


@pytest.fixture
def need_prometheus() -> None:
    need("prometheus", shutil.which("prometheus") is not None, "apt-get install prometheus")
