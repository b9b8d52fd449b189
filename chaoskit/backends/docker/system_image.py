"""The image a system's nodes run: the user's, or one with extra Debian packages.

A system may name its own `image` (NodeSpec.image) and Debian `packages`
(NodeSpec.packages). With packages, chaoskit builds `FROM <image>` (default:
chaoskit's node image, built offline if need be) an image that adds them with
apt-get, tagged by a hash of the base image's id and the package list, so the
build happens once per combination.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

from chaoskit.backends.docker.image import (
    ImageError,
    _build_lock,
    _has_image,
    build_image,
    docker_client,
    ensure_image,
)

SYSTEM_REPO = "chaoskit-system"

DOCKERFILE = """\
FROM {base}
RUN if ! dpkg-query -W {packages} >/dev/null 2>&1; then \\
      apt-get update \\
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {packages} \\
      && rm -rf /var/lib/apt/lists/*; \\
    fi
"""


def system_image(
    image: str | None, packages: tuple[str, ...] | list[str], log: Callable[[str], None] = print
) -> str:
    """The tag to run: `image` (default: the node image) plus `packages`, built if missing."""
    client = docker_client()
    base = image or ensure_image(log=log).tag
    if not _has_image(client, base):
        raise ImageError(
            f"image {base!r} is not on this Docker engine: `docker pull {base}` or build it "
            "(no registry is asked during a run)"
        )
    extra = sorted(set(packages))
    if not extra:
        return base
    base_id = client.images.get(base).id
    digest = hashlib.sha256((base_id + "\n" + " ".join(extra)).encode()).hexdigest()[:12]
    tag = f"{SYSTEM_REPO}:{digest}"
    if _has_image(client, tag):
        return tag
    with _build_lock():
        if _has_image(client, tag):
            return tag
        log(f"chaoskit: building {tag} FROM {base} + {' '.join(extra)}")
        text = DOCKERFILE.format(base=base, packages=" ".join(extra))
        what = f"{tag} ({' '.join(extra)})"
        build_image(client, tag, "system", what, fileobj=io.BytesIO(text.encode()))
    return tag
