"""GenericAdapter: runs, reaches and reshapes a system described only in YAML.

The block's fields and placeholders: chaoskit.systems.generic.spec and .templates,
docs/systems.md. Node commands see peers as the node does (through the links);
probes and the roles/degrade/restore commands run on the harness's host and reach
each node as a client of its own region does.
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from ipaddress import ip_address
from typing import Any

from chaoskit.backends.base import NodeSpec
from chaoskit.systems.base import (
    Client,
    Outcome,
    Starter,
    SystemAdapter,
    SystemContext,
    is_cas_mismatch,
)
from chaoskit.systems.generic import templates
from chaoskit.systems.generic.spec import GenericSpec, check, parse
from chaoskit.topology.model import Endpoint

# Round-robin of load users over their region's nodes (per process, per region).
_rr: dict[str, itertools.count] = {}
_rr_lock = threading.Lock()


class GenericAdapter(SystemAdapter):
    """Any program described in YAML: command, ports, ready probe, client protocol."""

    kind = "generic"
    ports = ("client",)  # the default of the block's `ports`
    workloads = ("register", "cas-register", "set")

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        """geokv run from its command line: replace the command, ports, probe and client."""
        if variant:
            return None
        return Starter(
            system="system:                                # your own server: docs/systems.md\n"
            "  kind: generic\n"
            "  ports: [http]                          # named ports; links are made per port\n"
            '  command: [python3, -m, chaoskit.systems.geokv, --id, "{name}", --region, '
            '"{region}",\n'
            '            --listen, "{listen.http}", --data-dir, "{data_dir}",\n'
            '            {each_peer: [--peer, "{peer}={peer_region}@{peer_addr.http}"]}]\n'
            "  ready: {http: {port: http, path: /health, status: 200}, deadline: 20s}\n"
            "  client:                                # http | command | redis | sql\n"
            "    protocol: http\n"
            '    read: {method: POST, path: /op, body: \'{"f": "read", "key": {key}}\', '
            'value: "json:value"}\n'
            "    write: {method: POST, path: /op, "
            'body: \'{"f": "write", "key": {key}, "value": {value}}\'}',
            about="A server described only in YAML (here geokv with majority quorums): "
            "the other regions keep serving.",
        )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        raw_ports = self.options.get("ports")
        ok = (
            isinstance(raw_ports, list) and raw_ports and all(isinstance(p, str) for p in raw_ports)
        )
        self.ports = tuple(raw_ports) if ok else ("client",)
        self.supports_clock_skew = self.options.get("clock_skew") is True
        self.clock_skew_reason = (
            "its block says clock_skew: false (the default); set clock_skew: true when the "
            "program reads the wall clock through libc (libfaketime cannot move a static Go "
            "binary's clock)"
        )
        roles = self.options.get("roles")
        names = roles.get("names") if isinstance(roles, dict) else None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            self.role_names = tuple(names)  # selectors may name them: {role: voter}
        self._spec: GenericSpec | None = None

    @property
    def spec(self) -> GenericSpec:
        if self._spec is None:
            self._spec = parse(self.options)
        return self._spec

    @property
    def image(self) -> str | None:
        return self.options.get("image") if isinstance(self.options.get("image"), str) else None

    @classmethod
    def check_options(
        cls, options: dict[str, Any], backend: str | None, workload: str | None
    ) -> list[tuple[tuple[str | int, ...], str]]:
        return check(options, workload)

    def validate(self, backend: str) -> list[str]:
        """What the host lacks (check_options reports the block's mistakes, with lines):
        on docker, a named image must be on the engine, since no registry is asked;
        programs run on this host (the node command on the local backend, probes and
        commands everywhere) must be found on its PATH."""
        problems = [f"system.{where}: {why}" for where, why in self._missing_programs(backend)]
        if backend != "docker" or self.image is None:
            return problems
        from chaoskit.backends.docker.image import ImageError, _has_image, docker_client

        try:
            client = docker_client()
        except ImageError:
            return []  # no engine: the docker backend says so when it starts
        if _has_image(client, self.image):
            return problems
        return problems + [
            f"system.image: {self.image!r} is not on this Docker engine; `docker pull` or "
            "build it first, or give `packages:` to have chaoskit add Debian packages to "
            "its node image"
        ]

    def _missing_programs(self, backend: str) -> list[tuple[str, str]]:
        """(field, why) for each argv whose program this host does not have."""
        opts = self.options
        argvs: list[tuple[str, Any]] = []
        if backend == "local":
            argvs.append(("command", opts.get("command")))
        ready, roles = opts.get("ready"), opts.get("roles")
        if isinstance(ready, dict):
            argvs.append(("ready.command", ready.get("command")))
        if isinstance(roles, dict):
            argvs.append(("roles.command", roles.get("command")))
        argvs += [(k, opts.get(k)) for k in ("degrade", "restore")]
        client = opts.get("client")
        if isinstance(client, dict) and client.get("protocol") == "command":
            argvs += [
                (f"client.{op}", client.get(op))
                for op in ("read", "write", "cas", "add", "read-all")
            ]
        out = []
        for where, argv in argvs:
            if not isinstance(argv, list) or not argv or not isinstance(argv[0], str):
                continue
            prog = argv[0]
            if prog in ("python3", "python") or "{" in prog or shutil.which(prog):
                continue
            out.append(
                (
                    where,
                    f"{prog!r} is not found on this host's PATH; install it"
                    + (
                        " or run on the docker backend (the node command runs in the image there)"
                        if where == "command"
                        else ""
                    ),
                )
            )
        return out

    # ---------------- running nodes ----------------
    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        spec = self.spec
        values = self._node_values(node, ctx)
        argv: list[str] = []
        for word in spec.command:
            if isinstance(word, dict):
                for peer_values in self._peer_values(node, ctx):
                    argv += [
                        templates.render(str(w), {**values, **peer_values})
                        for w in word["each_peer"]
                    ]
            else:
                argv.append(templates.render(str(word), values))
        env = {k: templates.render(v, values) for k, v in spec.env.items()}
        return NodeSpec(
            argv=argv,
            env=env,
            faketime=ctx.clock_faults and spec.clock_skew,
            image=spec.image,
            packages=tuple(spec.packages),
        )

    def _peers(self, node: str, ctx: SystemContext) -> list[str]:
        names = [n for n in ctx.plan.inside[node] if n in ctx.members or n == node]
        return names if self.spec.peer_self else [n for n in names if n != node]

    def _peer_values(self, node: str, ctx: SystemContext) -> list[dict[str, Any]]:
        out = []
        for peer in self._peers(node, ctx):
            p = ctx.topology.node(peer)
            v: dict[str, Any] = {"peer": peer, "peer_region": p.region, "peer_zone": p.zone}
            for port, ep in ctx.plan.inside[node][peer].items():
                v.update({f"peer_host.{port}": ep.host, f"peer_port.{port}": ep.port})
                v[f"peer_addr.{port}"] = f"{ep.host}:{ep.port}"
            out.append(v)
        return out

    def _node_values(self, node: str, ctx: SystemContext) -> dict[str, Any]:
        spec = self.spec
        me = ctx.topology.node(node)
        values: dict[str, Any] = {"name": node, "region": me.region, "zone": me.zone}
        binds = ctx.plan.node_bind[node]
        host = next(iter(binds.values())).host
        try:
            ip_address(host)
        except ValueError:
            host = "0.0.0.0"  # a DNS name (docker): listen on every interface
        values["host"] = host
        values["members"] = spec.peer_separator.join(ctx.members)
        peers = self._peer_values(node, ctx)
        for port, ep in binds.items():
            values[f"port.{port}"] = ep.port
            values[f"listen.{port}"] = f"{host}:{ep.port}"
            values[f"peers.{port}"] = spec.peer_separator.join(
                templates.render(
                    spec.peer_format,
                    {
                        **pv,
                        "addr": pv[f"peer_addr.{port}"],
                        "host": pv[f"peer_host.{port}"],
                        "port": pv[f"peer_port.{port}"],
                    },
                )
                for pv in peers
            )
        return values

    def _reach(self, ctx: SystemContext, node: str) -> dict[str, Endpoint]:
        """How the harness reaches `node`: as a client of the node's own region does."""
        return ctx.plan.outside[ctx.topology.node(node).region][node]

    def _harness_values(self, ctx: SystemContext, node: str) -> dict[str, Any]:
        me = ctx.topology.node(node)
        values: dict[str, Any] = {"name": node, "region": me.region, "zone": me.zone}
        for port, ep in self._reach(ctx, node).items():
            values.update({f"host.{port}": ep.host, f"port.{port}": ep.port})
            values[f"addr.{port}"] = f"{ep.host}:{ep.port}"
        return values

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        """Probe every node until it answers; the spec's own deadline rules (the
        engine's `deadline_s` only shortens it when the harness hurries)."""
        ready = self.spec.ready
        limit = ready.deadline_s if deadline_s >= 5 else min(deadline_s, ready.deadline_s)
        end = time.monotonic() + limit
        waiting = list(nodes)
        last: dict[str, str] = {}
        while waiting:
            for n in list(waiting):
                why = self._probe(ctx, n)
                if why is None:
                    waiting.remove(n)
                else:
                    last[n] = why
            if not waiting:
                return
            if time.monotonic() > end:
                detail = "; ".join(f"{n}: {last.get(n, 'no answer')}" for n in waiting)
                raise RuntimeError(
                    f"node(s) {', '.join(waiting)} not ready after {limit:g}s "
                    f"(ready: {ready.kind}; {detail})"
                )
            time.sleep(0.1)

    def _probe(self, ctx: SystemContext, node: str) -> str | None:
        """None when `node` is ready, else why not."""
        ready = self.spec.ready
        if ready.kind == "command":
            return _run(self._render_harness(ready.argv, ctx, node), 5.0)[1]
        ep = self._reach(ctx, node)[ready.port]
        if ready.kind == "tcp":
            try:
                with socket.create_connection((ep.host, ep.port), timeout=1.0):
                    return None
            except OSError as e:
                return f"tcp {ep}: {e.strerror or e!r}"
        url = f"http://{ep.host}:{ep.port}{ready.path}"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        except (OSError, ValueError) as e:
            return f"GET {url}: {e!r}"
        return (
            None if status == ready.status else f"GET {url}: HTTP {status}, wanted {ready.status}"
        )

    def _render_harness(
        self, argv: list[str], ctx: SystemContext, node: str, extra: dict | None = None
    ) -> list[str]:
        values = {**self._harness_values(ctx, node), **(extra or {})}
        return [templates.render(w, values) for w in argv]

    # ---------------- clients ----------------
    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        from chaoskit.clients import get_protocol

        spec = self.spec
        pattern = re.compile(re.escape(region) + r"-\d+")
        names = sorted(n for n in view if pattern.fullmatch(n)) or sorted(view)
        with _rr_lock:
            start = next(_rr.setdefault(region, itertools.count()))
        cls = get_protocol(spec.client_protocol)

        def make(node: str) -> Client:
            ep = view[node][spec.client_port]
            return cls(spec.client_options, ep.host, ep.port, timeout_s)

        return _NodeClient(names, start, make, spec.client_failover)

    # ---------------- roles and quorum ----------------
    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        if self.spec.roles is None:
            return {}
        out: dict[str, list[str]] = {}
        for n in ctx.members:
            text, err = _run(
                self._render_harness(self.spec.roles, ctx, n), self.spec.roles_deadline_s
            )
            if err is None and text.strip():
                out.setdefault(text.strip().split()[0].lower(), []).append(n)
        return out

    def degrade_quorum(self, ctx: SystemContext, survivors: list[str]) -> None:
        if self.spec.degrade is None:
            raise NotImplementedError("this generic system has no degrade/restore commands")
        extra = {"survivors": self.spec.peer_separator.join(survivors)}
        results = self._each(ctx, self.spec.degrade, [n.name for n in ctx.topology.nodes], extra)
        if not any(results.get(s) is None for s in survivors):
            raise RuntimeError(f"degrade: no survivor accepted the new membership: {results}")
        ctx.members = list(survivors)

    def restore_quorum(self, ctx: SystemContext, returning: list[str]) -> None:
        if self.spec.restore is None:
            raise NotImplementedError("this generic system has no degrade/restore commands")
        full = [n.name for n in ctx.topology.nodes if n.name in set(ctx.members) | set(returning)]
        extra = {
            "members": self.spec.peer_separator.join(full),
            "returning": self.spec.peer_separator.join(returning),
        }
        results = self._each(ctx, self.spec.restore, full, extra)
        bad = {n: e for n, e in results.items() if e is not None}
        if bad:
            raise RuntimeError(f"restore: the command failed on {bad}")
        ctx.members = full

    def _each(
        self, ctx: SystemContext, argv: list[str], nodes: list[str], extra: dict
    ) -> dict[str, str | None]:
        return {n: _run(self._render_harness(argv, ctx, n, extra), 10.0)[1] for n in nodes}


class _NodeClient(Client):
    """A protocol client on one node of the user's region at a time (`node` goes into
    the history). With failover, an operation that did not succeed moves the next one
    to the region's next node, as a client library that reconnects elsewhere does."""

    def __init__(self, nodes: list[str], start: int, make: Any, failover: bool) -> None:
        self.nodes, self._i, self._make, self.failover = nodes, start % len(nodes), make, failover
        self.inner: Client = make(self.nodes[self._i])

    @property
    def node(self) -> str:
        return self.nodes[self._i]

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        out = self.inner.invoke(f, key, value)
        if (
            self.failover
            and len(self.nodes) > 1
            and out.type != "ok"
            and not is_cas_mismatch(out.error)
        ):
            self.inner.close()
            self._i = (self._i + 1) % len(self.nodes)
            self.inner = self._make(self.nodes[self._i])
        return out

    def close(self) -> None:
        self.inner.close()


def _run(argv: list[str], timeout_s: float) -> tuple[str, str | None]:
    """(stdout, None) when `argv` exits 0 within `timeout_s`, else (stdout, why not).
    "python3" runs the harness's own interpreter (one that can import chaoskit)."""
    if argv and argv[0] in ("python3", "python"):
        argv = [sys.executable, *argv[1:]]
    try:
        p = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return "", f"{argv[0]}: no exit within {timeout_s:g}s"
    except OSError as e:
        return "", f"{argv[0]}: cannot start: {e.strerror or e!r}"
    if p.returncode != 0:
        return p.stdout, f"{argv[0]} exited {p.returncode}: {(p.stderr or p.stdout).strip()[:200]}"
    return p.stdout, None
