"""The docker backend (docs/docker.md). Import DockerBackend from .backend lazily:
the docker SDK is slow to import and `chaoskit --help` must stay fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend"]


def __getattr__(name: str) -> Any:
    if name == "DockerBackend":
        from chaoskit.backends.docker.backend import DockerBackend

        return DockerBackend
    raise AttributeError(name)
