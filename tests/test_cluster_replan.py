"""A planned link port taken by another process before the link server binds it:
the cluster plans its links again instead of failing (the real link server)."""

from __future__ import annotations

import socket
from pathlib import Path

from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.plan import build_topology


def test_taken_link_port_is_planned_again(tmp_path: Path) -> None:
    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    real_plan = be.plan
    taken: list[socket.socket] = []
    plans = []

    def plan_and_steal_a_port(topology, ports):  # type: ignore[no-untyped-def]
        p = real_plan(topology, ports)
        plans.append(p)
        if len(plans) == 1:  # someone else binds one of the first plan's link ports
            s = socket.socket()
            s.bind((be.host, next(iter(p.links.values())).listen.port))
            s.listen()
            taken.append(s)
        return p

    be.plan = plan_and_steal_a_port  # type: ignore[method-assign]
    try:
        with Cluster(build_topology({"beijing": 2}), GeoKVAdapter({"mode": "quorum"}), be) as c:
            assert len(plans) == 2 and c.plan is plans[1]
            assert c.client("beijing").invoke("write", "k", 1).type == "ok"
    finally:
        for s in taken:
            s.close()
