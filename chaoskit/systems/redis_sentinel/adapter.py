"""RedisSentinelAdapter: Redis 7 primary/replicas with Sentinels, across regions.

Every node runs redis-server; the nodes listed in `sentinels` (default: all) also
run redis-sentinel, as on the usual "Redis and Sentinel on each box" layout (a node
lost = its Redis and its Sentinel lost). Replication, Sentinel's monitoring and
gossip, and the reconfiguration after a failover all dial node NAMES (Redis 7
`replica-announce-ip`, Sentinel `resolve-hostnames` / `announce-hostnames`), which
resolve through the links (chaoskit.systems.peernames on the local backend, DNS
aliases on docker).

Options (`system:` besides `kind: redis-sentinel`):
  primary: NODE              the first primary (default: the first node)
  sentinels: [NODE, ...]     nodes that also run a Sentinel (default: every node)
  quorum: N                  Sentinels that must agree the primary is down
                             (default: a majority of them)
  down_after_ms: MS          Sentinel's down-after-milliseconds (default 2000)
  failover_timeout_ms: MS    Sentinel's failover-timeout (default 10000)
  min_replicas_to_write: N   the primary refuses writes unless N replicas have
                             acknowledged within `min_replicas_max_lag` (default 0: off)
  min_replicas_max_lag: S    seconds (default 10)

Roles: `primary` (and its synonym `leader`): the node most Sentinels name as the
primary; `replica`: the other Redis nodes.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoskit.backends.base import NodeSpec
from chaoskit.systems import peernames
from chaoskit.systems.base import (
    Client,
    Starter,
    SystemAdapter,
    SystemContext,
    option_type_problems,
)
from chaoskit.systems.redis_sentinel.client import SentinelClient
from chaoskit.topology.model import Endpoint

MASTER = "chaoskit"
PACKAGES = ("redis-server", "redis-sentinel")  # docker: added to the node image
_INT_OPTIONS = {
    "quorum": 1,
    "down_after_ms": 100,
    "failover_timeout_ms": 1000,
    "min_replicas_to_write": 0,
    "min_replicas_max_lag": 1,
}
_KNOWN = {"kind", "primary", "sentinels", *_INT_OPTIONS}


class RedisSentinelAdapter(SystemAdapter):
    kind = "redis-sentinel"
    ports = ("redis", "sentinel")
    supports_clock_skew = False
    clock_skew_reason = (
        "Sentinel's failure detection uses the monotonic clock and Redis replication has "
        "no wall-clock dependency, so clock skew has nothing to act on"
    )
    workloads = ("register", "cas-register", "set")
    role_names = ("replica",)

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        """The primary's region cut off: Sentinel fails over, the old primary's writes
        during the cut are lost when it rejoins (asynchronous replication)."""
        if variant:
            return None
        first, second = regions[0], regions[1]
        return Starter(
            system="system:                  # Debian's redis-server and redis-sentinel\n"
            "  kind: redis-sentinel\n"
            f"  primary: {first}-1       # the first primary; its region is cut off\n"
            "  down_after_ms: 2000     # Sentinel sees a node down after this long\n"
            "  failover_timeout_ms: 10000\n"
            "  # min_replicas_to_write: 1   # the primary refuses writes no replica "
            "acknowledged in time: a narrower loss window",
            about="A Sentinel majority outside it promotes a replica; the old primary keeps "
            "acknowledging writes until the cut heals, then resynchronises and drops them.",
            workload="set",
            rate="40/s",
            duration="40s",
            schedule=f"{{at: 5s, for: 12s, fault: partition, groups: [[{first}]]}}",
            checks="  linearizable: {expect: false}   # asynchronous replication: the cut "
            "primary's writes are lost\n"
            "  lost_writes: {min: 1}           # and chaoskit must find them\n"
            f"  rto: {{region: {second}, max: 15s}}",
        )

    # ---------------- validation ----------------
    def validate(self, backend: str) -> list[str]:
        out = peernames.problems(backend)
        if backend == "local":
            for prog in PACKAGES:
                if shutil.which(prog) is None:
                    out.append(f"system: {prog} is not installed: apt-get install {prog}")
        return out

    @classmethod
    def check_options(
        cls, options: dict[str, Any], backend: str | None, workload: str | None
    ) -> list[tuple[tuple[str | int, ...], str]]:
        out = option_type_problems(
            "redis-sentinel", options, _KNOWN, ints=_INT_OPTIONS, names=("primary",)
        )
        s = options.get("sentinels")
        if s is not None and not (isinstance(s, list) and s and all(isinstance(x, str) for x in s)):
            out.append((("sentinels",), f"{s!r} must be a non-empty list of node names"))
        return out

    # ---------------- layout ----------------
    def _nodes(self, ctx: SystemContext) -> list[str]:
        return [n.name for n in ctx.topology.nodes]

    def sentinel_nodes(self, names: list[str]) -> list[str]:
        chosen = self.options.get("sentinels")
        if chosen is None:
            return list(names)
        unknown = [s for s in chosen if s not in names]
        if unknown:
            raise RuntimeError(
                f"system.sentinels: unknown nodes {unknown}; nodes: {', '.join(names)}"
            )
        return list(chosen)

    def first_primary(self, names: list[str]) -> str:
        p = self.options.get("primary") or names[0]
        if p not in names:
            raise RuntimeError(f"system.primary: unknown node {p!r}; nodes: {', '.join(names)}")
        return p

    def _port(self, ctx: SystemContext, node: str, port: str) -> int:
        return ctx.plan.node_bind[node][port].port

    def _bind_host(self, ctx: SystemContext, node: str) -> str:
        return ctx.plan.node_bind[node]["redis"].host if ctx.backend.name == "local" else "0.0.0.0"

    def redis_conf(self, ctx: SystemContext, node: str) -> str:
        names = self._nodes(ctx)
        primary = self.first_primary(names)
        port = self._port(ctx, node, "redis")
        lines = [
            f"port {port}",
            f"bind {self._bind_host(ctx, node)}",
            "protected-mode no",
            "dir {data_dir}",
            'save ""',
            "appendonly no",
            f"replica-announce-ip {node}",
            f"replica-announce-port {port}",
            # A replica with a dead link to its primary must not serve as if fresh.
            "replica-serve-stale-data yes",
            "repl-timeout 10",
        ]
        n = int(self.options.get("min_replicas_to_write", 0))
        if n:
            lines += [
                f"min-replicas-to-write {n}",
                f"min-replicas-max-lag {int(self.options.get('min_replicas_max_lag', 10))}",
            ]
        if node != primary:
            lines.append(f"replicaof {primary} {self._port(ctx, primary, 'redis')}")
        return "\n".join(lines) + "\n"

    def sentinel_conf(self, ctx: SystemContext, node: str) -> str:
        names = self._nodes(ctx)
        primary = self.first_primary(names)
        sentinels = self.sentinel_nodes(names)
        quorum = int(self.options.get("quorum") or len(sentinels) // 2 + 1)
        port = self._port(ctx, node, "sentinel")
        return (
            "\n".join(
                [
                    f"port {port}",
                    f"bind {self._bind_host(ctx, node)}",
                    "protected-mode no",
                    "dir {data_dir}",
                    "sentinel resolve-hostnames yes",
                    "sentinel announce-hostnames yes",
                    f"sentinel announce-ip {node}",
                    f"sentinel announce-port {port}",
                    f"sentinel monitor {MASTER} {primary} {self._port(ctx, primary, 'redis')} {quorum}",
                    f"sentinel down-after-milliseconds {MASTER} {int(self.options.get('down_after_ms', 2000))}",
                    f"sentinel failover-timeout {MASTER} {int(self.options.get('failover_timeout_ms', 10000))}",
                    f"sentinel parallel-syncs {MASTER} 1",
                ]
            )
            + "\n"
        )

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        names = self._nodes(ctx)
        hosts, relays = peernames.peer_hosts(ctx, node, self.ports)
        files = {"{data_dir}/redis.conf": self.redis_conf(ctx, node)}
        commands = [["redis-server", "{data_dir}/redis.conf"]]
        if node in self.sentinel_nodes(names):
            files["{data_dir}/sentinel.conf"] = self.sentinel_conf(ctx, node)
            commands.append(["redis-sentinel", "{data_dir}/sentinel.conf"])
        run = peernames.NodeRun(commands=commands, hosts=hosts, relays=relays, files=files)
        return NodeSpec(argv=run.argv(), packages=PACKAGES)

    # ---------------- control-plane access (direct, never through the links) ----------
    def _conn(
        self, ctx: SystemContext, node: str, port: str, timeout_s: float = 1.0
    ) -> redis.Redis:
        ep = ctx.plan.node_bind[node][port]
        return redis.Redis(
            host=ep.host,
            port=ep.port,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def _ask(self, ctx: SystemContext, node: str, port: str, *cmd: Any) -> Any:
        c = self._conn(ctx, node, port)
        try:
            return c.execute_command(*cmd)
        finally:
            c.close()

    def _not_ready(self, ctx: SystemContext, node: str) -> str | None:
        """Why `node` is not ready yet, or None."""
        names = self._nodes(ctx)
        sentinels = self.sentinel_nodes(names)
        try:
            info = self._conn(ctx, node, "redis").info("replication")
        except redis.RedisError as e:
            return f"redis: {e}"
        if info.get("role") == "slave" and info.get("master_link_status") != "up":
            return "replica not yet in sync with its primary"
        if node in sentinels:
            try:
                m = self._ask(ctx, node, "sentinel", "SENTINEL", "MASTER", MASTER)
            except redis.RedisError as e:
                return f"sentinel: {e}"
            m = dict(zip(m[::2], m[1::2], strict=False)) if isinstance(m, list) else dict(m)
            others, replicas = int(m.get("num-other-sentinels", 0)), int(m.get("num-slaves", 0))
            if others < len(sentinels) - 1 or replicas < len(names) - 1:
                return (
                    f"sentinel knows {others}/{len(sentinels) - 1} other Sentinels and "
                    f"{replicas}/{len(names) - 1} replicas"
                )
        return None

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        for node in nodes:
            while (why := self._not_ready(ctx, node)) is not None:
                if not ctx.backend.is_running(node):
                    raise RuntimeError(f"redis node {node} exited before it was ready ({why})")
                if time.monotonic() > end:
                    raise RuntimeError(
                        f"redis node {node} not ready after {deadline_s:.0f}s: {why}"
                    )
                time.sleep(0.2)

    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        names = list(view)
        sentinels = self.sentinel_nodes(names)
        local = [s for s in sentinels if s.startswith(f"{region}-")]
        return SentinelClient(
            view, local + [s for s in sentinels if s not in local], MASTER, timeout_s
        )

    # ---------------- roles ----------------
    def primary(self, ctx: SystemContext) -> str | None:
        """The node most reachable Sentinels name as the primary."""
        names = self._nodes(ctx)
        votes: Counter[str] = Counter()
        for s in self.sentinel_nodes(names):
            if not ctx.backend.is_running(s):
                continue
            try:
                host, _port = self._ask(
                    ctx, s, "sentinel", "SENTINEL", "get-master-addr-by-name", MASTER
                )
            except (redis.RedisError, TypeError, ValueError):
                continue
            if host in names:
                votes[host] += 1
        return votes.most_common(1)[0][0] if votes else None

    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        p = self.primary(ctx)
        names = self._nodes(ctx)
        return {
            "primary": [p] if p else [],
            "leader": [p] if p else [],
            "replica": [n for n in names if n != p],
        }


__all__ = ["RedisSentinelAdapter"]
