"""Removing one run's Docker resources, each removal bounded (chaoskit.backends.teardown).

Containers go first, all at once (forced: SIGKILL, anonymous volumes with them),
then networks, then volumes. A network whose endpoints are still attached (a
container whose removal timed out, or one connected from outside the run) has
them disconnected by force before the next attempt, until its deadline.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from chaoskit.backends.docker.labels import RUN_LABEL
from chaoskit.backends.teardown import Teardown


@dataclass(frozen=True)
class Deadlines:
    """Seconds each teardown step may take (forced: the shorter removal deadlines)."""

    logs_s: float = 15.0
    list_s: float = 15.0
    containers_s: float = 30.0
    networks_s: float = 20.0
    volumes_s: float = 15.0
    forced_s: float = 8.0


def remove_container(container: Any) -> None:
    import docker.errors

    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass  # already gone (removed by a concurrent clean, or never fully created)


def remove_network(network: Any, deadline_s: float) -> None:
    """Remove a network; while it still has endpoints, disconnect them by force and retry."""
    import docker.errors

    end = time.monotonic() + deadline_s
    while True:
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if "active endpoints" not in str(e) or time.monotonic() > end:
                raise
        with contextlib.suppress(Exception):
            network.reload()
            for cid in network.attrs.get("Containers") or {}:
                with contextlib.suppress(Exception):
                    network.disconnect(cid, force=True)
        time.sleep(0.2)


def remove_volume(volume: Any) -> None:
    import docker.errors

    try:
        volume.remove(force=True)
    except docker.errors.NotFound:
        pass


def still_present(client: Any, flt: dict[str, str]) -> list[str]:
    """Names ("container X", "network Y", "volume Z") of the resources matching the
    Docker filters `flt` (e.g. {"label": "<run label>=<run id>"}) still present."""
    out = [
        f"container {c.name}"
        for c in client.containers.list(all=True, filters=flt, ignore_removed=True)
    ]
    out += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    out += [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
    return out


# A pass that still finds resources of the run waits this long and removes them once more.
SECOND_PASS_WAIT_S = 0.5


def teardown_run(client: Any, run_id: str, td: Teardown, deadlines: Deadlines) -> None:
    """Remove every container, network and volume labelled with `run_id`, recording each
    removal (or failure) in `td.report`; finally names anything still present.

    A creation request in flight when the run was interrupted (a Ctrl-C while the
    networks come up) may land after the listing: whatever the verifying listing still
    finds gets one more pass, so only what cannot be removed is left."""
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    _remove_listed(client, run_id, flt, td, deadlines)
    present = td.step(
        "verify", lambda: still_present(client, flt), _limit(td, deadlines, deadlines.list_s)
    )
    if present:
        time.sleep(SECOND_PASS_WAIT_S)
        td.report.left[:] = [e for e in td.report.left if e.split(" (", 1)[0] not in present]
        _remove_listed(client, run_id, flt, td, deadlines)
        present = td.step(
            "verify again",
            lambda: still_present(client, flt),
            _limit(td, deadlines, deadlines.list_s),
        )
    # What is still there, whatever the steps above believed.
    named = {entry.split(" (", 1)[0] for entry in td.report.left}
    for what in present or []:
        if what not in named:
            td.report.left.append(f"{what} (still present after its removal)")
        while what in td.report.removed:
            td.report.removed.remove(what)
    td.report.removed[:] = list(dict.fromkeys(td.report.removed))


def _limit(td: Teardown, deadlines: Deadlines, normal_s: float) -> float:
    """A step's deadline: its own, or the forced one once teardown is forced."""
    return min(normal_s, deadlines.forced_s) if td.forced else normal_s


def _remove_listed(
    client: Any, run_id: str, flt: dict[str, str], td: Teardown, deadlines: Deadlines
) -> None:
    """One pass: list the run's containers, networks and volumes and remove them."""

    def limit(normal_s: float) -> float:
        return _limit(td, deadlines, normal_s)

    containers = td.step(
        "list containers",
        lambda: client.containers.list(all=True, filters=flt, ignore_removed=True),
        limit(deadlines.list_s),
    )
    if containers is None:
        td.report.left.append(f"the containers of run {run_id} (docker did not list them)")
        containers = []
    td.removals(
        {f"container {c.name}": (lambda c=c: remove_container(c)) for c in containers},
        limit(deadlines.containers_s),
    )

    networks = td.step(
        "list networks", lambda: client.networks.list(filters=flt), limit(deadlines.list_s)
    )
    if networks is None:
        td.report.left.append(f"the networks of run {run_id} (docker did not list them)")
        networks = []
    net_s = limit(deadlines.networks_s)
    td.removals(
        {f"network {n.name}": (lambda n=n: remove_network(n, net_s - 1.0)) for n in networks},
        net_s,
    )

    volumes = td.step(
        "list volumes", lambda: client.volumes.list(filters=flt), limit(deadlines.list_s)
    )
    td.removals(
        {f"volume {v.name}": (lambda v=v: remove_volume(v)) for v in volumes or []},
        limit(deadlines.volumes_s),
    )
