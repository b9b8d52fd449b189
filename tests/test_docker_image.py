"""The node image: content-hash caching, the offline base's inputs, clear messages
when Docker or debootstrap is missing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.backends.docker import image


def test_mirror_from_apt_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOSKIT_DEBIAN_MIRROR", raising=False)
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert image.debian_mirror([deb822]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# c\ndeb [arch=amd64] http://old.example/debian bookworm main\n")
    assert image.debian_mirror([tmp_path / "missing", one_line]) == "http://old.example/debian"
    assert image.debian_mirror([]) == image.DEFAULT_MIRROR
    monkeypatch.setenv("CHAOSKIT_DEBIAN_MIRROR", "http://env.example/debian")
    assert image.debian_mirror([deb822]) == "http://env.example/debian"


def test_hashes_follow_inputs():
    pkgs = image._read_packages()
    assert {"python3", "python3-aiohttp", "libfaketime", "etcd-server"} <= set(pkgs)
    assert image.base_hash(pkgs) == image.base_hash(list(pkgs))
    assert image.base_hash(pkgs) != image.base_hash([*pkgs, "curl"])
    assert image.node_hash() == image.node_hash()
    assert image.node_image_tag() == f"chaoskit-node:{image.node_hash()}"


def test_no_engine_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(
        image.ImageError, match=r"does not answer.*start it.*apt-get install docker.io"
    ):
        image.docker_client()


def test_no_debootstrap_says_what_to_install(need_docker, monkeypatch, tmp_path):
    client = image.docker_client()
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: no debootstrap
    with pytest.raises(image.ImageError, match="apt-get install debootstrap"):
        # a package list no cached base has: the build would need debootstrap
        image.build_offline_base(client, ["python3", f"chaoskit-test-{time.time_ns()}"], print)


@pytest.mark.docker
def test_cached_build_is_fast_and_complete(need_docker):
    first = image.ensure_image()  # built by scripts/test.sh already, or now
    t = time.monotonic()
    again = image.ensure_image()
    assert again.tag == first.tag and not again.built
    assert time.monotonic() - t < 10
    cli = Path(sys.executable).parent / "chaoskit"
    p = subprocess.run([str(cli), "image", "build"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and f"{first.tag} (cached" in p.stdout, (p.stdout, p.stderr)
    # what the image must hold: python3 + aiohttp, libfaketime, etcd, chaoskit's code
    client = image.docker_client()
    out = client.containers.run(
        first.tag,
        [
            "sh",
            "-c",
            "python3 -c 'import aiohttp, chaoskit.links, chaoskit.systems.geokv' && "
            "ls /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 && etcd --version | head -1",
        ],
        remove=True,
        labels={"chaoskit": "1", "chaoskit.run": "test-image-contents"},
    ).decode()
    assert "libfaketime.so.1" in out and "etcd Version: 3." in out
