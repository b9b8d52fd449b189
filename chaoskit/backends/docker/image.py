"""The node image, built without a registry when none answers.

`ensure_image()` returns the tag of an image holding python3, aiohttp, libfaketime,
etcd and chaoskit's current code, building it only when its inputs changed:

- the tag is a content hash of compose/Dockerfile, compose/image/packages.txt and
  chaoskit's code, so an unchanged tree costs one `docker image inspect`;
- the base is `debian:bookworm-slim` when it is present or can be pulled, otherwise
  a `debootstrap --variant=minbase` root filesystem (from the Debian mirror apt uses
  on this host) imported with `docker import`, cached under its own hash of the
  package list (it changes rarely);
- the same Dockerfile then runs on either base (`docker build --build-arg BASE=`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chaoskit
from chaoskit.backends.docker.labels import IMAGE_LABEL

NODE_REPO = "chaoskit-node"
BASE_REPO = "chaoskit-base"
REGISTRY_BASE = "debian:bookworm-slim"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

PKG_ROOT = Path(chaoskit.__file__).resolve().parent
COMPOSE_DIR = PKG_ROOT.parent / "compose"


class ImageError(RuntimeError):
    """The image cannot be built here; the message says what to install or do."""


@dataclass(frozen=True)
class BuildResult:
    tag: str
    base: str
    built: bool  # False: the cached image was reused
    offline: bool
    seconds: float


def _read_packages() -> list[str]:
    path = COMPOSE_DIR / "image" / "packages.txt"
    if not path.is_file():
        raise ImageError(
            f"{path} is missing: `chaoskit image build` needs chaoskit's source tree "
            "(install it with `pip install -e .` from a checkout)"
        )
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def _code_files() -> list[Path]:
    return sorted(
        p
        for p in PKG_ROOT.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def base_hash(packages: list[str]) -> str:
    return hashlib.sha256(("\n".join([SUITE, *packages])).encode()).hexdigest()[:12]


def node_hash() -> str:
    """Content hash of everything that goes into the node image."""
    h = hashlib.sha256()
    dockerfile = COMPOSE_DIR / "Dockerfile"
    if not dockerfile.is_file():
        raise ImageError(f"{dockerfile} is missing (chaoskit's source tree is needed)")
    h.update(dockerfile.read_bytes())
    h.update("\n".join(_read_packages()).encode())
    for p in _code_files():
        h.update(str(p.relative_to(PKG_ROOT)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def node_image_tag() -> str:
    return f"{NODE_REPO}:{node_hash()}"


def debian_mirror(files: list[Path] | None = None) -> str:
    """The Debian mirror apt uses on this host (env CHAOSKIT_DEBIAN_MIRROR wins)."""
    env = os.environ.get("CHAOSKIT_DEBIAN_MIRROR")
    if env:
        return env
    if files is None:
        files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        # deb822 stanzas (*.sources): URIs + Suites lines in one paragraph.
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(.+)$", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1).split()[0]
        # one-line format: deb [opts] URI SUITE COMPONENTS
        for line in text.splitlines():
            m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(2) == SUITE:
                return m.group(1)
    return DEFAULT_MIRROR


def docker_client():  # -> docker.DockerClient (import kept lazy: the SDK is slow to import)
    try:
        import docker
    except ImportError as e:  # pragma: no cover - docker is a dependency
        raise ImageError("the `docker` Python package is missing: pip install docker") from e
    if not shutil.which("docker") and not Path("/var/run/docker.sock").exists():
        raise ImageError(
            "no Docker engine here: install it (apt-get install docker.io) and start it (dockerd)"
        )
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as e:
        raise ImageError(
            f"the Docker engine does not answer ({e.__class__.__name__}): start it "
            "(`nohup dockerd >/var/log/chaoskit-dockerd.log 2>&1 &`, or scripts/setup-system.sh); "
            "if it is not installed: apt-get install docker.io"
        ) from e
    return client


def _has_image(client, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    # Two builds at once (tests + a benchmark) would debootstrap twice; serialize.
    lock_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chaoskit"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "image.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_image(client, tag: str, label: str, what: str, **source: Any) -> None:
    """`docker build` of `tag` from `source` (path= or fileobj=, buildargs=), labelled
    IMAGE_LABEL=`label`; the FROM image is never pulled (no registry is asked), and
    a failure is an ImageError naming `what`."""
    try:
        client.images.build(
            tag=tag, labels={IMAGE_LABEL: label}, rm=True, forcerm=True, pull=False, **source
        )
    except Exception as e:
        raise ImageError(f"docker build of {what} failed: {e}") from e


def _try_registry_base(client, log: Callable[[str], None]) -> bool:
    if _has_image(client, REGISTRY_BASE):
        return True
    try:
        client.images.pull(REGISTRY_BASE)
        return True
    except Exception as e:
        # The engine's message is long and says little ("500 Server Error ... no such host").
        log(
            f"chaoskit: no registry serves {REGISTRY_BASE} ({e.__class__.__name__}); building offline"
        )
        return False


def build_offline_base(client, packages: list[str], log: Callable[[str], None]) -> str:
    """debootstrap a minbase root filesystem with `packages` and `docker import` it."""
    tag = f"{BASE_REPO}:{base_hash(packages)}"
    if _has_image(client, tag):
        return tag
    if not shutil.which("debootstrap"):
        raise ImageError(
            f"{REGISTRY_BASE} cannot be pulled and debootstrap is missing: "
            "apt-get install debootstrap (it builds the base image from Debian's packages)"
        )
    mirror = debian_mirror()
    log(f"chaoskit: debootstrap {SUITE} from {mirror} (about a minute)")
    tmp = Path(tempfile.mkdtemp(prefix="chaoskit-rootfs-", dir="/var/tmp"))
    root = tmp / "root"
    try:
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                str(root),
                mirror,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise ImageError(f"debootstrap failed (mirror {mirror}):\n{tail}")
        # Package caches only make the image bigger.
        for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / d).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            [
                "docker",
                "import",
                "-c",
                f"LABEL {IMAGE_LABEL}=base",
                "-c",
                'CMD ["/bin/bash"]',
                "-",
                tag,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"docker import of the debootstrap root failed: {imp.stderr.strip()}")
        return tag
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_image(
    force: bool = False, offline: bool | None = None, log: Callable[[str], None] = print
) -> BuildResult:
    """The node image's tag, built if its inputs changed (or `force`)."""
    t0 = time.monotonic()
    client = docker_client()
    tag = node_image_tag()
    if not force and _has_image(client, tag):
        return BuildResult(tag, "", False, False, time.monotonic() - t0)
    with _build_lock():
        if not force and _has_image(client, tag):  # another process built it meanwhile
            return BuildResult(tag, "", False, False, time.monotonic() - t0)
        packages = _read_packages()
        if offline is None:
            offline = os.environ.get("CHAOSKIT_IMAGE_OFFLINE", "") in ("1", "true", "yes")
        use_registry = not offline and _try_registry_base(client, log)
        base = REGISTRY_BASE if use_registry else build_offline_base(client, packages, log)
        with tempfile.TemporaryDirectory(prefix="chaoskit-image-") as ctx:
            shutil.copy(COMPOSE_DIR / "Dockerfile", Path(ctx) / "Dockerfile")
            shutil.copytree(
                PKG_ROOT,
                Path(ctx) / "chaoskit",
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"),
            )
            log(f"chaoskit: building {tag} FROM {base}")
            build_image(
                client,
                tag,
                "node",
                tag,
                path=ctx,
                buildargs={"BASE": base, "PACKAGES": " ".join(packages)},
            )
        client.images.get(tag).tag(NODE_REPO, "latest")
        # No automatic prune: another checkout (a CI clone, a second worktree) may be
        # about to start a container from its own chaoskit-node tag, and removing it
        # between its ensure_image() and its create_container fails that run. An old
        # image costs only its code layer (~2 MB; the base layers are shared):
        # `chaoskit image build --prune` removes them.
        return BuildResult(tag, base, True, not use_registry, time.monotonic() - t0)


def prune_old_node_images(keep: str) -> int:
    """Remove chaoskit-node images other than `keep` (each code change leaves one;
    `chaoskit image build --prune`, never automatic).

    Never forced: Docker refuses to remove an image a container (a running
    experiment) still uses, and such an image simply stays until the next build."""
    client = docker_client()
    removed = 0
    for img in client.images.list(filters={"label": f"{IMAGE_LABEL}=node"}):
        if keep in img.tags:
            continue
        with contextlib.suppress(Exception):
            client.images.remove(img.id, force=False, noprune=False)
            removed += 1
    return removed
