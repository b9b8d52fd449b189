"""Cluster up/down: a node that cannot start is named with its log tail and
nothing is left running; an external (already running) link server is used
instead of our own and our proxies are taken off it at the end; the results
directory's layout and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import alive

from chaoskit.backends.base import NodeSpec
from chaoskit.backends.local import LocalBackend
from chaoskit.cluster import Cluster, ClusterError
from chaoskit.links.server import LinkServer
from chaoskit.results import INCOMPLETE, RunDir, atomic_write_text
from chaoskit.systems.base import SystemContext
from chaoskit.systems.geokv.adapter import GeoKVAdapter
from chaoskit.topology.model import Latency
from chaoskit.topology.plan import build_topology


def _topo():
    return build_topology({"beijing": 1, "xian": 1}, latency={("beijing", "xian"): Latency(2.0)})


class BrokenOnXian(GeoKVAdapter):
    """geokv, but xian-1 gets an argument it does not know: it exits at once."""

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        spec = super().node_spec(node, ctx)
        if node == "xian-1":
            spec.argv.append("--no-such-flag")
        return spec


def test_node_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "reg")
    c = Cluster(_topo(), BrokenOnXian({"mode": "quorum"}), be, ready_timeout_s=3)
    started: list[int] = []
    with pytest.raises(Exception) as ei:
        try:
            c.up()
        finally:
            started = list(be.pids().values()) + [p.popen.pid for p in be._nodes.values()]
            c.down()
    msg = str(ei.value)
    assert "xian-1" in msg and "no-such-flag" in msg, msg
    assert isinstance(ei.value, ClusterError | RuntimeError)
    assert started and not any(alive(p) for p in started), "nothing is left running"
    assert not (tmp_path / "reg").exists() or not list((tmp_path / "reg").rglob("*.json"))


def test_external_link_server_is_used_and_left_clean(tmp_path: Path) -> None:
    with LinkServer() as srv:
        be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "reg", links_url=srv.url)
        with Cluster(_topo(), GeoKVAdapter({"mode": "quorum"}), be) as c:
            assert c.api_url == srv.url
            assert "links" not in be.pids(), "no link server of our own"
            assert sorted(c.links.names()) == sorted(s.name for s in c.plan.links.values())
            h = c.apply_fault("cut-region", {"region": "xian"})
            assert c.client("beijing", 0.5).invoke("write", "k", 1).type in ("fail", "info")
            c.heal(h)
            assert c.client("beijing", 2.0).invoke("write", "k", 2).type == "ok"
            links = c.links
        assert links.names() == [], "our proxies are taken off the external server"


def test_run_dir_layout_and_atomic_writes(tmp_path: Path) -> None:
    a = RunDir.create(tmp_path, "my exp/1")
    assert a.path.parent.name == "my_exp_1"
    assert (a.path / INCOMPLETE).exists() and (a.path / "logs").is_dir()
    b = RunDir.create(tmp_path, "my exp/1")
    assert a.path != b.path and a.path.name < b.path.name, "sortable UTC timestamps"
    assert (b.path.parent / "latest").resolve() == b.path
    b.write_json("check.json", {"passed": True})
    assert oct((b.path / "check.json").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    b.finish()
    assert not b.incomplete and a.incomplete
    # a failed write leaves neither a half file nor a temp file behind
    target = tmp_path / "x.txt"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):  # fails inside the write, after the temp file exists
        atomic_write_text(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.txt")] == []


def _umask() -> int:
    u = os.umask(0)
    os.umask(u)
    return u


def test_readiness_log_tail_keeps_the_error_above_the_shutdown_noise(tmp_path: Path) -> None:
    """A node of several programs (etcd + Patroni): the one that failed prints its error,
    then the others' shutdown fills the end of the log. The readiness report shows
    the error line as well as the end."""
    from chaoskit.cluster import _tail

    log = tmp_path / "node.log"
    noise = [f'{{"level":"info","msg":"stopped stream {i}"}}' for i in range(40)]
    log.write_text(
        "\n".join(["starting", "2026-12-02 16:51:30 CRITICAL: cannot bootstrap", *noise]) + "\n"
    )
    out = _tail(log)
    assert "CRITICAL: cannot bootstrap" in out
    assert out.endswith(noise[-1]) and "starting" not in out
    log.write_text("\n".join(noise) + "\n")  # nothing to pick out: the end only
    assert _tail(log) == "\n".join(noise[-15:])
