"""chaoskit.backends: where nodes run. `get_backend(name)` returns a Backend class,
imported lazily (the docker SDK is slow to import; a missing package must not break
the other backend). Both take `(run_dir, run_id=...)`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.backends.base import Backend

# name -> "module:ClassName"
BACKENDS: dict[str, str] = {
    "local": "chaoskit.backends.local:LocalBackend",
    "docker": "chaoskit.backends.docker.backend:DockerBackend",
}


def known_backends() -> list[str]:
    return sorted(BACKENDS)


def get_backend(name: str) -> type[Backend]:
    """The Backend class for `name` ("local" | "docker"); ValueError names the valid ones."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(known_backends())}")
    module, attr = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attr)
