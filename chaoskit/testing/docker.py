"""Helpers for tests of the docker backend (and for anyone checking a run cleaned up)."""

from __future__ import annotations

import os
from typing import Any

from chaoskit.backends.clean_cli import pid_alive
from chaoskit.backends.docker.labels import LABEL, PID_LABEL, RUN_LABEL
from chaoskit.backends.docker.teardown import still_present

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


def leftovers(run_id: str | None = None, client: Any = None) -> list[str]:
    """Names of chaoskit-labelled containers, networks and volumes still present
    (of one run, or of every run)."""
    if client is None:
        from chaoskit.backends.docker.image import docker_client

        client = docker_client()
    return still_present(client, {"label": f"{RUN_LABEL}={run_id}" if run_id else f"{LABEL}=1"})


def exec_python(backend: Any, node: str, code: str, timeout_s: float = 30.0) -> str:
    """Run a Python snippet in a node's container; its stdout, or AssertionError with output."""
    rc, out = backend.exec(node, ["python3", "-c", code], timeout_s=timeout_s)
    if rc != 0:
        raise AssertionError(f"python in {node} exited {rc}:\n{out}")
    return out


def compose_test_project() -> str:
    """The docker-compose project name tests of this process use (see new_leftovers)."""
    return f"ckt{os.getpid()}"


def _labelled(client: Any) -> list[tuple[str, str, dict[str, str]]]:
    # ignore_removed: on a shared engine a container of another run may go between
    # the listing and its inspection; that is not an error of the test.
    flt = {"label": f"{LABEL}=1"}
    out = [
        (c.id, f"container {c.name}", c.labels or {})
        for c in client.containers.list(all=True, filters=flt, ignore_removed=True)
    ]
    out += [
        (n.id, f"network {n.name}", n.attrs.get("Labels") or {})
        for n in client.networks.list(filters=flt)
    ]
    out += [
        (v.id, f"volume {v.name}", v.attrs.get("Labels") or {})
        for v in client.volumes.list(filters=flt)
    ]
    return out


def snapshot(client: Any = None) -> set[str]:
    """Ids of every chaoskit-labelled container, network and volume present now."""
    if client is None:
        from chaoskit.backends.docker.image import docker_client

        client = docker_client()
    return {rid for rid, _, _ in _labelled(client)}


def new_leftovers(before: set[str], client: Any = None) -> list[str]:
    """chaoskit-labelled resources that appeared since `before` and that this process
    (or a harness it started, now gone) left behind.

    Resources of another harness that is still alive (a concurrent test run, a CI
    clone) are not ours and are ignored, as are compose projects other than
    compose_test_project()'s: the check must hold on a machine others share."""
    if client is None:
        from chaoskit.backends.docker.image import docker_client

        client = docker_client()
    me = os.getpid()
    out = []
    for rid, what, lbls in _labelled(client):
        if rid in before:
            continue
        pid_text = lbls.get(PID_LABEL)
        if pid_text:
            try:
                pid = int(pid_text)
            except ValueError:
                pid = -1
            if pid != me and pid > 0 and pid_alive(pid):
                continue  # a live harness owns it (not a child of ours that exited)
        elif lbls.get(COMPOSE_PROJECT_LABEL, "") != compose_test_project():
            continue  # a compose project someone else brought up
        out.append(f"{what} (run {lbls.get(RUN_LABEL, '?')})")
    return out
