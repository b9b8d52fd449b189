"""GeoKVAdapter: how chaoskit runs, reaches and reshapes a geokv cluster.

Options (`system:` in an experiment, besides `kind: geokv`):
  mode: quorum | lww | unit            (default quorum)
  homes: {key: region}                  unit: explicit home regions (else by hash)
  failover_s: seconds                   unit: hand a lost home region's keys over
  replication_delay_s: seconds          lww/unit: async replication lag
  peer_timeout_s, op_timeout_s          node-to-node / per-operation timeouts
  proposer: leader | local               quorum: forward each key to its leader node
                                        (no dueling proposers), or propose anywhere
  node_regions: {node: region}          client side: which nodes are in a region
                                        (else inferred from "<region>-..." names)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from ipaddress import ip_address
from typing import Any

from chaoskit.backends.base import NodeSpec
from chaoskit.systems.base import (
    Client,
    OptionProblem,
    Starter,
    SystemAdapter,
    SystemContext,
    option_type_problems,
)
from chaoskit.systems.geokv.client import GeoKVClient
from chaoskit.topology.model import Endpoint

MODES = ("quorum", "lww", "unit")
_NUMBER_OPTIONS = ("failover_s", "replication_delay_s", "peer_timeout_s", "op_timeout_s")
_KNOWN_OPTIONS = {"kind", "mode", "homes", "node_regions", "proposer", *_NUMBER_OPTIONS}

# Round-robin of load users over their region's nodes (per process, per region).
_rr: dict[str, itertools.count] = {}
_rr_lock = threading.Lock()


def _http(
    ep: Endpoint, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 3.0
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{ep.host}:{ep.port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        detail = e.read()[:300].decode(errors="replace")
        raise RuntimeError(f"{method} {path} at {ep}: HTTP {e.code}: {detail}") from None


class GeoKVAdapter(SystemAdapter):
    kind = "geokv"
    ports = ("http",)
    supports_clock_skew = True
    supports_disk_faults = True  # its journal in {data_dir}, written with os.write
    needs_single_address = False
    workloads = ("register", "cas-register", "set")
    defaults = {"mode": "quorum"}
    starter_variants = {
        "lww": "active-active, last writer wins",
        "unit": "every key has a home region",
    }

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        if variant == "lww":
            return Starter(
                system="system: {kind: geokv, mode: lww}      # active-active, last writer wins",
                about="Every region keeps accepting writes (active-active, last writer wins): "
                "availability stays high, but writes from the two sides conflict.",
                # Not linearizable under a cut: asking for it would fail the run (by
                # design), so the bound is there commented out, with the reason.
                checks="  # linearizable: true    # LWW loses updates under a cut: uncomment "
                "to see the checker's counterexample",
            )
        if variant == "unit":
            return Starter(
                system="system: {kind: geokv, mode: unit}     # every key has a home region "
                "(homes: {key: region} to choose)",
                about="Every key lives in its home region (unitised), so only the keys whose "
                "home is cut off become unavailable.",
            )
        if variant:
            return None
        return Starter(
            system="system: {kind: geokv, mode: quorum}   # geokv modes: quorum | lww | unit",
            about="The nodes agree by majority quorums, so the other regions keep serving.",
        )

    @property
    def mode(self) -> str:
        return str(self.options.get("mode", "quorum"))

    @classmethod
    def check_options(
        cls, options: dict[str, Any], backend: str | None, workload: str | None
    ) -> list[OptionProblem]:
        mode = str(options.get("mode", "quorum"))
        out: list[OptionProblem] = []
        if mode not in MODES:
            out.append((("mode",), f"{mode!r} is not a geokv mode; valid: {', '.join(MODES)}"))
        out += option_type_problems("geokv", options, _KNOWN_OPTIONS)
        for k in _NUMBER_OPTIONS:
            v = options.get(k)
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or v < 0):
                out.append(((k,), f"{v!r} must be a number >= 0 (seconds)"))
        proposer = options.get("proposer", "leader")
        if proposer not in ("leader", "local"):
            out.append((("proposer",), f"{proposer!r}; valid: leader, local"))
        elif "proposer" in options and mode != "quorum":
            out.append((("proposer",), "only meaningful with mode: quorum"))
        homes = options.get("homes")
        if homes is not None and not isinstance(homes, dict):
            out.append((("homes",), "must map key -> region name"))
        if mode != "unit" and homes:
            out.append((("homes",), "only meaningful with mode: unit"))
        if mode != "unit" and options.get("failover_s") is not None:
            out.append((("failover_s",), "only meaningful with mode: unit"))
        return out

    # ---------------- running nodes ----------------
    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        topo, plan = ctx.topology, ctx.plan
        me = topo.node(node)
        bind = plan.node_bind[node][self.ports[0]]
        host = bind.host
        try:
            ip_address(host)
        except ValueError:
            host = "0.0.0.0"  # a DNS name (docker): listen on every interface
        argv = [
            "python3",
            "-m",
            "chaoskit.systems.geokv",
            "--id",
            node,
            "--region",
            me.region,
            "--mode",
            self.mode,
            "--listen",
            f"{host}:{bind.port}",
            "--members",
            ",".join(ctx.members),
            "--data-dir",
            "{data_dir}",  # the backend substitutes the node's own directory
        ]
        for peer, ep in plan.peer_map(node, self.ports[0]).items():
            argv += ["--peer", f"{peer}={topo.node(peer).region}@{ep.host}:{ep.port}"]
        if self.mode == "quorum" and self.options.get("proposer"):
            argv += ["--proposer", str(self.options["proposer"])]
        for key, region in (self.options.get("homes") or {}).items():
            if region not in topo.region_names:
                raise ValueError(
                    f"system.homes.{key}: {region!r} is not a region of this topology "
                    f"(regions: {', '.join(topo.region_names)})"
                )
            argv += ["--home", f"{key}={region}"]
        for k in _NUMBER_OPTIONS:
            if self.options.get(k) is not None:
                argv += ["--" + k.replace("_", "-"), str(self.options[k])]
        return NodeSpec(argv=argv, env={"PYTHONUNBUFFERED": "1"}, faketime=ctx.clock_faults)

    def _endpoint(self, ctx: SystemContext, node: str) -> Endpoint:
        # The harness reaches a node as a client of the node's own region does (direct).
        region = ctx.topology.node(node).region
        return ctx.plan.outside[region][node][self.ports[0]]

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        waiting = list(nodes)
        last: dict[str, str] = {}
        while waiting:
            for n in list(waiting):
                try:
                    h = _http(self._endpoint(ctx, n), "GET", "/health", timeout=1.0)
                    if h.get("ok"):
                        waiting.remove(n)
                except (OSError, RuntimeError, ValueError) as e:
                    last[n] = str(e)
            if waiting and time.monotonic() > end:
                detail = "; ".join(f"{n}: {last.get(n, 'no answer')}" for n in waiting)
                raise RuntimeError(
                    f"geokv node(s) {', '.join(waiting)} not ready after {deadline_s:.0f}s ({detail})"
                )
            if waiting:
                time.sleep(0.1)

    # ---------------- clients ----------------
    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        regions = self.options.get("node_regions") or {}
        if regions:
            local = [n for n in view if regions.get(n) == region]
        else:
            # Topology names nodes "<region>-<n>" (chaoskit.topology.plan.node_names).
            pattern = re.compile(re.escape(region) + r"-\d+")
            local = [n for n in view if pattern.fullmatch(n)]
        names = sorted(local) or sorted(view)  # no local node: talk across the links
        with _rr_lock:
            start = next(_rr.setdefault(region, itertools.count()))
        return GeoKVClient([(n, view[n][self.ports[0]]) for n in names], timeout_s, start)

    # ---------------- reshaping ----------------
    def _each(
        self,
        ctx: SystemContext,
        nodes: list[str],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Call every node; returns node -> reply or the error text (never raises)."""
        out: dict[str, Any] = {}
        for n in nodes:
            try:
                out[n] = _http(self._endpoint(ctx, n), method, path, body)
            except (OSError, RuntimeError, ValueError) as e:
                out[n] = f"error: {e}"
        return out

    def degrade_quorum(self, ctx: SystemContext, survivors: list[str]) -> None:
        """Shrink the member list to `survivors` on every reachable node. Writes only
        the lost nodes had acknowledged are lost: that is the experiment's point."""
        unknown = [s for s in survivors if s not in ctx.plan.node_bind]
        if not survivors or unknown:
            raise ValueError(f"degrade_quorum: survivors {survivors} name unknown nodes {unknown}")
        replies = self._each(
            ctx,
            [n.name for n in ctx.topology.nodes],
            "POST",
            "/admin/members",
            {"members": survivors},
        )
        if not any(isinstance(replies.get(s), dict) for s in survivors):
            raise RuntimeError(
                f"degrade_quorum: no survivor accepted the new member list: {replies}"
            )
        ctx.members = list(survivors)

    def restore_quorum(self, ctx: SystemContext, returning: list[str]) -> None:
        """Grow the member list back. The survivors are frozen, their state is merged
        into the returning nodes (whose own stale state is discarded), then every node
        gets the full list and the survivors thaw."""
        survivors = [m for m in ctx.members if m not in returning]
        full = [n.name for n in ctx.topology.nodes if n.name in set(ctx.members) | set(returning)]
        self._each(ctx, survivors, "POST", "/admin/freeze", {"frozen": True})
        try:
            snaps = self._each(ctx, survivors, "GET", "/admin/snapshot", None)
            states = [r["state"] for r in snaps.values() if isinstance(r, dict)]
            if not states:
                raise RuntimeError(f"restore_quorum: no survivor answered a snapshot: {snaps}")
            bad = {
                n: r
                for n, r in self._each(
                    ctx, returning, "POST", "/admin/install", {"states": states}
                ).items()
                if not isinstance(r, dict)
            }
            if bad:
                raise RuntimeError(f"restore_quorum: could not install state on {bad}")
            self._each(ctx, returning + survivors, "POST", "/admin/members", {"members": full})
        finally:
            self._each(ctx, survivors, "POST", "/admin/freeze", {"frozen": False})
        ctx.members = full

    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        if self.mode != "unit":
            return {}
        prim = []
        for r in ctx.topology.region_names:
            for m in ctx.members:
                if ctx.topology.node(m).region == r:
                    prim.append(m)
                    break
        return {"primary": prim}
