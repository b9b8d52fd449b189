"""ToyKVAdapter: how chaoskit runs, reaches and judges toykv (docs/systems.md)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from chaoskit.backends.base import NodeSpec
from chaoskit.systems.base import (
    CAS_MISMATCH,
    Client,
    Outcome,
    Starter,
    SystemAdapter,
    SystemContext,
)
from chaoskit.topology.model import Endpoint


class ToyKVClient(Client):
    """One connection to one node. Honest outcomes: a refused connection is `fail`
    (nothing was sent); a timeout or a lost connection after sending is `info`,
    except for reads, which have no effect."""

    def __init__(self, node: str, ep: Endpoint, timeout_s: float) -> None:
        self.node, self.ep, self.timeout_s = node, ep, timeout_s
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        if f == "read":
            line = f"GET {key}"
        elif f == "write":
            line = f"SET {key} {json.dumps(value)}"
        elif f == "cas":
            line = f"CAS {key} {json.dumps(value[0])} {json.dumps(value[1])}"
        else:
            return Outcome("fail", None, f"toykv has no {f!r}")
        if self.sock is None:
            try:
                self.sock = socket.create_connection((self.ep.host, self.ep.port), self.timeout_s)
            except OSError as e:
                return Outcome("fail", None, f"{self.node}: cannot connect: {e}")
            self.reader = self.sock.makefile("r")
        try:
            self.sock.sendall((line + "\n").encode())
            reply = self.reader.readline().strip()
            if not reply:
                raise ConnectionError("connection closed")
        except OSError as e:
            self.close()
            return Outcome("fail" if f == "read" else "info", None, f"{self.node}: {e!r}")
        if reply.startswith("VALUE "):
            return Outcome("ok", json.loads(reply[6:]))
        if reply == "OK":
            return Outcome("ok", value)
        if reply == "MISMATCH":
            return Outcome("fail", None, f"{CAS_MISMATCH}: {self.node}")
        return Outcome("fail", None, f"{self.node}: {reply}")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class ToyKVAdapter(SystemAdapter):
    """A single toykv primary: every region's clients reach it through the links."""

    kind = "toykv"
    ports = ("kv",)
    supports_clock_skew = False
    clock_skew_reason = "toykv keeps no time"
    workloads = ("register", "cas-register")

    @classmethod
    def check_options(cls, options, backend, workload):
        unknown = [k for k in options if k != "kind"]
        return [((k,), "toykv takes no options") for k in unknown]

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        if variant:
            return None
        return Starter(
            system="system: {kind: toykv}     # one primary: the first node",
            about="Every region's clients reach the one primary through the links.",
            workload="cas-register",
            checks="  linearizable: true",
        )

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        bind = ctx.plan.node_bind[node]["kv"]
        argv = ["python3", "-m", "toykv_chaos.server", "--listen", f"{bind.host}:{bind.port}"]
        return NodeSpec(argv=[*argv, "--data", "{data_dir}/journal"])

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        for n in nodes:
            ep = ctx.plan.outside[ctx.topology.node(n).region][n]["kv"]
            while True:
                try:
                    socket.create_connection((ep.host, ep.port), 1.0).close()
                    break
                except OSError as e:
                    if time.monotonic() > end:
                        raise RuntimeError(f"toykv node {n} not ready: {e}") from e
                    time.sleep(0.1)

    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        node = sorted(view)[0]  # the primary
        return ToyKVClient(node, view[node]["kv"], timeout_s)

    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        return {"primary": [sorted(ctx.members)[0]]}
