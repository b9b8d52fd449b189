"""Helpers for tests of the docker backend (and for anyone checking a run cleaned up)."""

from __future__ import annotations

from typing import Any

from chaoskit.backends.docker.labels import LABEL, RUN_LABEL


def leftovers(run_id: str | None = None, client: Any = None) -> list[str]:
    """Names of chaoskit-labelled containers, networks and volumes still present
    (of one run, or of every run)."""
    if client is None:
        from chaoskit.backends.docker.image import docker_client

        client = docker_client()
    flt = {"label": f"{RUN_LABEL}={run_id}" if run_id else f"{LABEL}=1"}
    out = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
    out += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    out += [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
    return out


def exec_python(backend: Any, node: str, code: str, timeout_s: float = 30.0) -> str:
    """Run a Python snippet in a node's container; its stdout, or AssertionError with output."""
    rc, out = backend.exec(node, ["python3", "-c", code], timeout_s=timeout_s)
    if rc != 0:
        raise AssertionError(f"python in {node} exited {rc}:\n{out}")
    return out
