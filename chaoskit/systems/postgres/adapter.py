"""PatroniAdapter: PostgreSQL 15 managed by Patroni, with an etcd cluster as its DCS.

Each node is a host: it runs Patroni (which runs PostgreSQL) and, if listed in
`etcd`, an etcd member; a node listed in `witness` runs only its etcd member (a
tie-breaker site). Every address the members exchange is a node name: PostgreSQL
streaming replication (Patroni's `connect_address`), Patroni's REST calls between
members, Patroni -> etcd and etcd peer traffic all cross the links
(chaoskit.systems.peernames on the local backend, DNS aliases on docker).

Options (`system:` besides `kind: postgres-patroni`):
  primary: NODE                 the first leader (default: the first PostgreSQL node);
                                set by a switchover once the cluster is up
  etcd: [NODE, ...]             nodes running an etcd member (default: every node)
  witness: [NODE, ...]          nodes running only an etcd member (default: none)
  synchronous_mode: BOOL        Patroni synchronous replication (default false)
  synchronous_mode_strict: BOOL refuse writes when no synchronous standby is left
  synchronous_node_count: N     synchronous standbys (default 1)
  ttl, loop_wait, retry_timeout Patroni's DCS timings in seconds (default 10, 2, 4)
  maximum_lag_on_failover: B    bytes a replica may lag and still be promoted (1 MiB)
  isolation: LEVEL              transactions (list-append, rw-register) run at serializable
                                (default), repeatable-read or read-committed

Roles: `primary` (= `leader`): the holder of Patroni's leader key, read from the
etcd majority; `replica`: the other PostgreSQL nodes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from typing import Any

import requests
import yaml

from chaoskit.backends.base import NodeSpec
from chaoskit.systems import peernames
from chaoskit.systems.base import (
    Client,
    Starter,
    SystemAdapter,
    SystemContext,
    option_type_problems,
)
from chaoskit.systems.postgres.client import PatroniClient
from chaoskit.topology.model import Endpoint

PG_BIN = "/usr/lib/postgresql/15/bin"
SCOPE = "chaoskit"
NAMESPACE = "/service/"
USER = "postgres"  # PostgreSQL refuses to run as root
PACKAGES = ("postgresql-15", "patroni")  # docker: added to the node image (etcd is in it)
_BOOL = ("synchronous_mode", "synchronous_mode_strict")
_INT = {
    "synchronous_node_count": 1,
    "ttl": 2,
    "loop_wait": 1,
    "retry_timeout": 1,
    "maximum_lag_on_failover": 0,
}
_LISTS = ("etcd", "witness")
_KNOWN = {"kind", "primary", "isolation", *_BOOL, *_INT, *_LISTS}
ISOLATION = ("serializable", "repeatable-read", "read-committed")  # of txn workloads


class PatroniAdapter(SystemAdapter):
    kind = "postgres-patroni"
    ports = ("pg", "api", "etcd", "peer")
    supports_clock_skew = False
    # Patroni passes its environment (minus PATRONI_*) to postgres: the disk-fault shim
    # reaches PostgreSQL's writes and fsyncs in {data_dir}/pgdata.
    supports_disk_faults = True
    clock_skew_reason = (
        "the DCS (etcd) is written in Go, which reads the time without libc, so libfaketime "
        "cannot skew it; Patroni's leader lease is a DCS TTL, not a wall-clock comparison"
    )
    role_names = ("replica",)
    workloads = ("register", "cas-register", "set", "list-append", "rw-register")

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._switched = False

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        """The primary's region cut off: its leader key expires, Patroni promotes a
        replica elsewhere, and what the old primary acknowledged meanwhile is lost
        (asynchronous replication; synchronous_mode: true keeps it)."""
        if variant:
            return None
        first, second = regions[0], regions[1]
        return Starter(
            system="system:                  # Debian's postgresql-15, patroni and etcd-server\n"
            "  kind: postgres-patroni\n"
            f"  primary: {first}-1       # the first primary; its region is cut off\n"
            "  ttl: 10                 # the leader key expires this long after the primary "
            "loses the DCS\n"
            "  loop_wait: 2\n"
            "  retry_timeout: 4\n"
            "  # synchronous_mode: true   # a standby confirms every commit: nothing "
            "acknowledged is lost\n"
            f"  # etcd: [{', '.join(f'{r}-1' for r in regions)}]   # nodes running an etcd "
            "member (default: every node)",
            about="Its leader key expires in the etcd majority outside it and Patroni promotes "
            "a replica there; replication is asynchronous, so what the old primary "
            "acknowledged meanwhile is lost when it rejoins.",
            workload="set",
            timeout="2s",
            rate="40/s",
            duration="50s",
            schedule=f"{{at: 6s, for: 25s, fault: partition, groups: [[{first}]]}}",
            checks="  linearizable: {expect: false}   # asynchronous replication loses the cut "
            "primary's last writes\n"
            "  lost_writes: {min: 1}           # and chaoskit must find them\n"
            f"  rto: {{region: {second}, max: 30s}}",
        )

    # ---------------- validation ----------------
    def validate(self, backend: str) -> list[str]:
        out = peernames.problems(backend)
        if backend == "local":
            for what, pkg in (("patroni", "patroni"), ("etcd", "etcd-server")):
                if shutil.which(what) is None:
                    out.append(f"system: {what} is not installed: apt-get install {pkg}")
            if not os.path.exists(f"{PG_BIN}/postgres"):
                out.append(f"system: {PG_BIN}/postgres is missing: apt-get install postgresql-15")
        return out

    @classmethod
    def check_options(
        cls, options: dict[str, Any], backend: str | None, workload: str | None
    ) -> list[tuple[tuple[str | int, ...], str]]:
        out = option_type_problems(
            "postgres-patroni", options, _KNOWN, bools=_BOOL, ints=_INT, names=("primary",)
        )
        for k in _LISTS:
            v = options.get(k)
            if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                out.append(((k,), f"{v!r} must be a list of node names"))
        iso = options.get("isolation")
        if iso is not None and iso not in ISOLATION:
            out.append((("isolation",), f"{iso!r}; valid: {', '.join(ISOLATION)}"))
        return out

    # ---------------- layout ----------------
    def _names(self, ctx: SystemContext) -> list[str]:
        return [n.name for n in ctx.topology.nodes]

    def _check_nodes(self, names: list[str], key: str) -> list[str]:
        listed = list(self.options.get(key) or [])
        unknown = [n for n in listed if n not in names]
        if unknown:
            raise RuntimeError(f"system.{key}: unknown nodes {unknown}; nodes: {', '.join(names)}")
        return listed

    def etcd_nodes(self, names: list[str]) -> list[str]:
        return self._check_nodes(names, "etcd") if "etcd" in self.options else list(names)

    def pg_nodes(self, names: list[str]) -> list[str]:
        witness = self._check_nodes(names, "witness")
        return [n for n in names if n not in witness]

    def _port(self, ctx: SystemContext, node: str, port: str) -> int:
        return ctx.plan.node_bind[node][port].port

    def _listen(self, ctx: SystemContext, node: str, port: str) -> str:
        host = ctx.plan.node_bind[node][port].host if ctx.backend.name == "local" else "0.0.0.0"
        return f"{host}:{self._port(ctx, node, port)}"

    def etcd_argv(self, ctx: SystemContext, node: str) -> list[str]:
        members = self.etcd_nodes(self._names(ctx))
        peer = f"http://{node}:{self._port(ctx, node, 'peer')}"
        return [
            "etcd",
            "--name", node,
            "--data-dir", "{data_dir}/etcd",
            "--listen-client-urls", f"http://{self._listen(ctx, node, 'etcd')}",
            "--advertise-client-urls", f"http://{node}:{self._port(ctx, node, 'etcd')}",
            "--listen-peer-urls", f"http://{self._listen(ctx, node, 'peer')}",
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster",
            ",".join(f"{m}=http://{m}:{self._port(ctx, m, 'peer')}" for m in members),
            "--initial-cluster-state", "new",
            "--initial-cluster-token", SCOPE,
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
            "--pre-vote",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip

    def patroni_config(self, ctx: SystemContext, node: str) -> dict[str, Any]:
        names = self._names(ctx)
        o = self.options
        dcs: dict[str, Any] = {
            "ttl": int(o.get("ttl", 10)),
            "loop_wait": int(o.get("loop_wait", 2)),
            "retry_timeout": int(o.get("retry_timeout", 4)),
            "maximum_lag_on_failover": int(o.get("maximum_lag_on_failover", 1048576)),
            "synchronous_mode": bool(o.get("synchronous_mode", False)),
            "synchronous_mode_strict": bool(o.get("synchronous_mode_strict", False)),
            "synchronous_node_count": int(o.get("synchronous_node_count", 1)),
            "postgresql": {
                "use_pg_rewind": True,
                "parameters": {
                    "wal_level": "replica",
                    "hot_standby": "on",
                    "wal_log_hints": "on",
                    "max_wal_senders": 10,
                    "max_replication_slots": 10,
                    "wal_keep_size": "256MB",
                },
            },
        }
        hba = [
            "local all all trust",
            "host all all 0.0.0.0/0 trust",
            "host replication all 0.0.0.0/0 trust",
        ]
        auth = {"username": USER, "password": SCOPE}
        return {
            "scope": SCOPE,
            "namespace": NAMESPACE,
            "name": node,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": self._listen(ctx, node, "api"),
                "connect_address": f"{node}:{self._port(ctx, node, 'api')}",
            },
            "etcd3": {
                "hosts": [f"{m}:{self._port(ctx, m, 'etcd')}" for m in self.etcd_nodes(names)],
                "protocol": "http",
            },
            "bootstrap": {"dcs": dcs, "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}]},
            "postgresql": {
                "listen": self._listen(ctx, node, "pg"),
                "connect_address": f"{node}:{self._port(ctx, node, 'pg')}",
                "data_dir": "{data_dir}/pgdata",
                "bin_dir": PG_BIN,
                "pgpass": "{data_dir}/pgpass",
                "pg_hba": hba,
                "authentication": {
                    "superuser": dict(auth),
                    "replication": {"username": "replicator", "password": SCOPE},
                    "rewind": dict(auth),
                },
                "parameters": {"unix_socket_directories": "{data_dir}"},
            },
        }

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        names = self._names(ctx)
        hosts, relays = peernames.peer_hosts(ctx, node, self.ports)
        files: dict[str, str] = {}
        commands: list[list[str]] = []
        if node in self.etcd_nodes(names):
            commands.append(self.etcd_argv(ctx, node))
        if node in self.pg_nodes(names):
            files["{data_dir}/patroni.yml"] = yaml.safe_dump(self.patroni_config(ctx, node))
            commands.append(["patroni", "{data_dir}/patroni.yml"])
        if not commands:
            raise RuntimeError(
                f"node {node} runs neither PostgreSQL nor etcd (system.witness/etcd)"
            )
        run = peernames.NodeRun(
            commands=commands, hosts=hosts, relays=relays, files=files, user=USER
        )
        return NodeSpec(argv=run.argv(), packages=PACKAGES)

    # ---------------- control plane (direct, never through the links) ----------------
    def _api(self, ctx: SystemContext, node: str, path: str, timeout_s: float = 1.0) -> Any:
        ep = ctx.plan.node_bind[node]["api"]
        r = requests.get(f"http://{ep.host}:{ep.port}{path}", timeout=timeout_s)
        return r.status_code, (r.json() if r.content else {})

    def leader(self, ctx: SystemContext) -> str | None:
        """The leader key's holder, read linearizably from the etcd members that answer
        (a cut-off minority member cannot serve such a read)."""
        from chaoskit.systems.etcd.client import b64, unb64

        key = b64(f"{NAMESPACE}{SCOPE}/leader")
        votes: Counter[str] = Counter()
        for m in self.etcd_nodes(self._names(ctx)):
            ep = ctx.plan.node_bind[m]["etcd"]
            try:
                r = requests.post(
                    f"http://{ep.host}:{ep.port}/v3/kv/range",
                    json={"key": key, "serializable": False},
                    timeout=1.0,
                )
                kvs = r.json().get("kvs") or []
            except (requests.RequestException, ValueError):
                continue
            if kvs:
                votes[unb64(kvs[0]["value"]).decode()] += 1
        return votes.most_common(1)[0][0] if votes else None

    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        lead = self.leader(ctx)
        pg = self.pg_nodes(self._names(ctx))
        return {
            "primary": [lead] if lead else [],
            "leader": [lead] if lead else [],
            "replica": [n for n in pg if n != lead],
        }

    def _not_ready(self, ctx: SystemContext, node: str, pg: list[str]) -> str | None:
        names = self._names(ctx)
        if node in self.etcd_nodes(names):
            ep = ctx.plan.node_bind[node]["etcd"]
            try:
                health = requests.get(f"http://{ep.host}:{ep.port}/health", timeout=1).json()
            except (requests.RequestException, ValueError) as e:
                return f"etcd: {e.__class__.__name__}"
            if str(health.get("health")) != "true":
                return f"etcd not healthy: {health}"
        if node not in pg:
            return None
        try:
            _, st = self._api(ctx, node, "/patroni")
        except (requests.RequestException, ValueError) as e:
            return f"patroni: {e.__class__.__name__}"
        if st.get("state") != "running":
            return f"postgres {st.get('state', 'not started')}"
        if st.get("role") in ("master", "primary"):
            streaming = [r for r in st.get("replication") or [] if r.get("state") == "streaming"]
            if len(streaming) < len(pg) - 1:
                return f"primary: {len(streaming)}/{len(pg) - 1} replicas streaming"
            if self.options.get("synchronous_mode"):
                want = min(int(self.options.get("synchronous_node_count", 1)), len(pg) - 1)
                sync = [r for r in streaming if r.get("sync_state") in ("sync", "quorum")]
                if len(sync) < want:
                    return f"primary: {len(sync)}/{want} synchronous standbys"
        return None

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        pg = self.pg_nodes(self._names(ctx))
        for node in nodes:
            while (why := self._not_ready(ctx, node, pg)) is not None:
                if not ctx.backend.is_running(node):
                    raise RuntimeError(f"node {node} exited before it was ready ({why})")
                if time.monotonic() > end:
                    raise RuntimeError(f"node {node} not ready after {deadline_s:.0f}s: {why}")
                time.sleep(0.3)
        if not self._switched and set(nodes) >= set(pg):
            self._switched = True
            self._initial_leader(ctx, pg, max(10.0, end - time.monotonic()))

    def _initial_leader(self, ctx: SystemContext, pg: list[str], deadline_s: float) -> None:
        """Switch over to `primary` once, then create the tables the clients use."""
        want = self.options.get("primary") or pg[0]
        if want not in pg:
            raise RuntimeError(
                f"system.primary: {want!r} is not a PostgreSQL node ({', '.join(pg)})"
            )
        end = time.monotonic() + deadline_s
        while (lead := self.leader(ctx)) != want:
            if time.monotonic() > end:
                raise RuntimeError(
                    f"patroni: could not switch the leadership to {want} (leader: {lead})"
                )
            if lead is not None:
                ep = ctx.plan.node_bind[lead]["api"]
                try:
                    requests.post(
                        f"http://{ep.host}:{ep.port}/switchover",
                        data=json.dumps({"leader": lead, "candidate": want}),
                        timeout=10,
                    )
                except requests.RequestException:
                    pass
            time.sleep(1.0)
        for node in pg:  # the replicas follow the new leader before the load starts
            while (why := self._not_ready(ctx, node, pg)) is not None:
                if time.monotonic() > end:
                    raise RuntimeError(f"node {node} not ready after the switchover: {why}")
                time.sleep(0.3)
        from chaoskit.clients.sql import SqlClient

        ep = ctx.plan.node_bind[want]["pg"]
        sql = SqlClient({}, ep.host, ep.port, 5.0)
        try:
            out = sql.invoke("read", "k0", None)  # creates the tables
        finally:
            sql.close()
        if out.type != "ok":
            raise RuntimeError(f"node {want}: cannot create the tables: {out.error}")

    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        members = [n for n in self.pg_nodes(list(view))]
        local = [m for m in members if m.startswith(f"{region}-")]
        sql = {"isolation": self.options["isolation"]} if "isolation" in self.options else {}
        return PatroniClient(view, local + [m for m in members if m not in local], timeout_s, sql)


__all__ = ["PatroniAdapter"]
