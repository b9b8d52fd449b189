"""EtcdAdapter: real etcd (Debian's etcd-server) across regions.

Options (`system:` besides `kind: etcd`):
  heartbeat_ms, election_ms   raft timings (default: from the largest RTT of the
                              topology, heartbeat ~ RTT, election = 10 x heartbeat)
  restore_timeout_s           how long restore-quorum waits for a returning member
                              to catch up (its region must have healed) (default 60)
  leader_region: REGION       after the cluster first comes up, move the leadership
                              to a member of REGION (etcd's MoveLeader), so a
                              schedule can cut "the leader's region" by name
  node_regions: {node: region}   client side: which nodes are in a region (else
                              inferred from "<region>-..." node names)

Members know each other by hostname (`--initial-cluster n1=http://n1:PEER,...`):
etcd needs one address per member everywhere, which only the docker backend's
DNS aliases give (a remote member's name resolves to the region's link). Clock
skew is impossible: etcd is Go, and Go reads the clock through the vDSO, never
through libc, so libfaketime cannot touch it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from chaoskit.backends.base import NodeSpec
from chaoskit.systems.base import (
    Client,
    OptionProblem,
    Starter,
    SystemAdapter,
    SystemContext,
    option_type_problems,
)
from chaoskit.systems.etcd.client import EtcdClient, EtcdError, call
from chaoskit.topology.model import Endpoint

log = logging.getLogger("chaoskit.systems.etcd")

_KNOWN_OPTIONS = {
    "kind",
    "heartbeat_ms",
    "election_ms",
    "restore_timeout_s",
    "leader_region",
    "node_regions",
}
# A member dropped by degrade-quorum that something (e.g. the heal of a kill fault)
# starts again must not rejoin with its stale membership: 4 of 5 old members could
# elect a second leader. It idles outside the cluster until restore-quorum adds it
# back with clean data.
OUTSIDE_ARGV = ["python3", "-c", "import signal; signal.pause()"]
CLOCK_SKEW_REASON = (
    "etcd's clock cannot be skewed: etcd is written in Go, which reads the time through "
    "the vDSO without libc, so libfaketime has no effect on it"
)


class EtcdAdapter(SystemAdapter):
    kind = "etcd"
    ports = ("client", "peer")
    supports_clock_skew = False
    # Go makes its write and fsync system calls directly, not through libc: an
    # LD_PRELOAD shim never sees them.
    disk_faults_reason = "etcd is written in Go, which writes and fsyncs without libc"
    needs_single_address = True
    workloads = ("register", "cas-register")

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        if variant:
            return None
        return Starter(
            system="system: {kind: etcd}                  # Debian's etcd-server; "
            "leader_region: REGION places the leader",
            about="etcd's raft majority keeps serving outside the cut region.",
            backend="docker",
            backend_comment="# etcd needs docker: `dockerd &` then `chaoskit image build` once",
            timeout="3s",
        )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._force_new: set[str] = set()  # start once with --force-new-cluster
        self._joining: dict[str, list[str]] = {}  # node -> initial cluster when it joins
        self._leader_moved = False

    # ---------------- validation ----------------
    def validate(self, backend: str) -> list[str]:
        problems = []
        if backend != "docker":
            problems.append(
                f"backend: {backend!r} cannot run etcd: every etcd member must be reachable at "
                "one address from every region, which only `backend: docker` gives "
                "(its DNS aliases route a member's name through each region's link)"
            )
        return problems

    @classmethod
    def check_options(
        cls, options: dict[str, Any], backend: str | None, workload: str | None
    ) -> list[OptionProblem]:
        out = option_type_problems("etcd", options, _KNOWN_OPTIONS)
        lr = options.get("leader_region")
        if lr is not None and not isinstance(lr, str):
            out.append((("leader_region",), f"{lr!r} must be a region name"))
        for k in ("heartbeat_ms", "election_ms", "restore_timeout_s"):
            v = options.get(k)
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or v <= 0):
                out.append(((k,), f"{v!r} must be a number > 0"))
        return out

    clock_skew_reason = CLOCK_SKEW_REASON

    # ---------------- running nodes ----------------
    def timings(self, ctx: SystemContext) -> tuple[int, int]:
        rtts = [lat.rtt_ms + 2 * lat.jitter_ms for lat in ctx.topology.latency.values()]
        hb = int(self.options.get("heartbeat_ms") or max(100, round(max(rtts, default=0))))
        election = int(self.options.get("election_ms") or min(50000, max(1000, 10 * hb)))
        return hb, election

    def _port(self, ctx: SystemContext, node: str, port: str) -> int:
        return ctx.plan.node_bind[node][port].port

    def _peer_url(self, ctx: SystemContext, node: str) -> str:
        # The member's name is its address everywhere (docker DNS aliases).
        return f"http://{node}:{self._port(ctx, node, 'peer')}"

    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec:
        if node not in ctx.members and node not in self._joining:
            return NodeSpec(argv=list(OUTSIDE_ARGV))
        hb, election = self.timings(ctx)
        joining = node in self._joining
        members = self._joining.get(node) or list(ctx.members)
        if node not in members:
            members = [*members, node]
        cport = self._port(ctx, node, "client")
        argv = [
            "etcd",
            "--name",
            node,
            "--data-dir",
            "{data_dir}",
            "--listen-client-urls",
            f"http://0.0.0.0:{cport}",
            "--advertise-client-urls",
            f"http://{node}:{cport}",
            "--listen-peer-urls",
            f"http://0.0.0.0:{self._port(ctx, node, 'peer')}",
            "--initial-advertise-peer-urls",
            self._peer_url(ctx, node),
            "--initial-cluster",
            ",".join(f"{m}={self._peer_url(ctx, m)}" for m in members),
            "--initial-cluster-state",
            "existing" if joining else "new",
            "--initial-cluster-token",
            "chaoskit",
            "--heartbeat-interval",
            str(hb),
            "--election-timeout",
            str(election),
            # Pre-vote (off by default in 3.4, on in 3.5): a member coming back from a
            # cut region must not force an election with its inflated term.
            "--pre-vote",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        if node in self._force_new:
            argv.append("--force-new-cluster")
        return NodeSpec(argv=argv, clean_data=joining)

    def _ep(self, ctx: SystemContext, node: str) -> Endpoint:
        # The harness reaches members directly (node_bind: container IPs), never through
        # the links: control-plane calls must work while regions are cut.
        return ctx.plan.node_bind[node]["client"]

    def _call(
        self, ctx: SystemContext, node: str, path: str, body: dict[str, Any], timeout_s: float = 3.0
    ) -> dict[str, Any]:
        with requests.Session() as s:
            return call(s, self._ep(ctx, node), path, body, timeout_s)

    def _healthy(self, ctx: SystemContext, node: str) -> tuple[bool, str]:
        ep = self._ep(ctx, node)
        try:
            r = requests.get(f"http://{ep.host}:{ep.port}/health", timeout=2)
            data = r.json()
        except (requests.RequestException, ValueError) as e:
            return False, f"{e.__class__.__name__}"
        return str(data.get("health")) == "true", str(data)

    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        # Members only: a dropped member idles outside the cluster (see OUTSIDE_ARGV).
        for node in [n for n in nodes if n in ctx.members or n in self._joining]:
            last = "no answer"
            while True:
                ok, last = self._healthy(ctx, node)
                if ok:
                    break
                if not ctx.backend.is_running(node):
                    raise RuntimeError(f"etcd member {node} exited before it was ready")
                if time.monotonic() > end:
                    raise RuntimeError(
                        f"etcd member {node} not healthy after {deadline_s:.0f}s (last: {last})"
                    )
                time.sleep(0.2)
        region = self.options.get("leader_region")
        if region and set(nodes) >= set(ctx.members) and not self._leader_moved:
            self._leader_moved = True
            self.move_leader(ctx, region, max(5.0, end - time.monotonic()))

    def move_leader(self, ctx: SystemContext, region: str, deadline_s: float = 15.0) -> str:
        """Hand the leadership to a member in `region` (MoveLeader); returns the new leader."""
        targets = [m for m in ctx.members if ctx.topology.node(m).region == region]
        if not targets:
            raise RuntimeError(f"etcd leader_region {region!r}: no member there")
        end = time.monotonic() + deadline_s
        last: Exception | str | None = None
        while time.monotonic() < end:
            leader = self.leader(ctx)
            if leader in targets:
                return leader
            try:
                target_id = self.status(ctx, targets[0])["header"]["member_id"]
                if leader:
                    self._call(
                        ctx,
                        leader,
                        "/v3/maintenance/transfer-leadership",
                        {"targetID": target_id},
                        5.0,
                    )
            except Exception as e:
                last = e
            time.sleep(0.3)
        raise RuntimeError(f"etcd: could not move the leadership to {region!r}: {last}")

    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        regions = self.options.get("node_regions") or {}
        local = [
            n
            for n in view
            if regions.get(n) == region or (not regions and n.startswith(f"{region}-"))
        ]
        others = [n for n in view if n not in local]
        # Local members first (their own region's path); the rest only after a failure.
        return EtcdClient([view[n]["client"] for n in local + others], timeout_s)

    # ---------------- roles ----------------
    def status(self, ctx: SystemContext, node: str, timeout_s: float = 1.0) -> dict[str, Any]:
        return self._call(ctx, node, "/v3/maintenance/status", {}, timeout_s)

    def leader(self, ctx: SystemContext) -> str | None:
        """The member most members name as leader (a cut-off old leader may still think it is)."""
        ids: dict[str, str] = {}
        votes: dict[str, int] = {}
        for node in ctx.members:
            try:
                st = self.status(ctx, node)
            except Exception:
                continue
            ids[str(st.get("header", {}).get("member_id"))] = node
            lead = str(st.get("leader", "0"))
            if lead != "0":
                votes[lead] = votes.get(lead, 0) + 1
        for lead, _ in sorted(votes.items(), key=lambda kv: -kv[1]):
            if lead in ids:
                return ids[lead]
        return None

    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        leader = self.leader(ctx)
        return {"leader": [leader] if leader else []}

    # ---------------- quorum ----------------
    def degrade_quorum(self, ctx: SystemContext, survivors: list[str]) -> None:
        """The survivors carry on alone: the most up-to-date one restarts with
        --force-new-cluster (a one-member cluster keeping its data), the other
        survivors rejoin it with clean data, the lost members are killed (they
        would come back with a stale membership) and dropped."""
        survivors = [s for s in survivors if s in ctx.members] or list(survivors)
        lost = [m for m in ctx.members if m not in survivors]
        best, best_index = survivors[0], -1
        for s in survivors:
            try:
                idx = int(self.status(ctx, s).get("raftIndex", 0))
            except Exception:
                continue
            if idx > best_index:
                best, best_index = s, idx
        for n in lost + [s for s in survivors if s != best]:
            ctx.backend.kill_node(n)
        ctx.backend.stop_node(best, grace_s=2.0)
        self._force_new.add(best)
        try:
            ctx.backend.start_node(best, self.node_spec(best, ctx))
        finally:
            self._force_new.discard(best)
        ctx.members[:] = [best]
        self.wait_ready(ctx, [best], 30.0)
        for s in survivors:
            if s != best:
                self._add_member(ctx, s)
                ctx.members.append(s)

    def restore_quorum(self, ctx: SystemContext, returning: list[str]) -> None:
        """Fresh members back, one by one: added as learners (they do not count
        towards quorum while they catch up, so a still-cut region cannot stall the
        cluster), started with clean data, then promoted once in sync."""
        for n in returning:
            if n in ctx.members:
                continue
            self._add_member(ctx, n)
            ctx.members.append(n)

    def _any_member_call(
        self, ctx: SystemContext, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        leader = self.leader(ctx)
        order = ([leader] if leader else []) + [m for m in ctx.members if m != leader]
        last: Exception | None = None
        for m in order:
            try:
                return self._call(ctx, m, path, body, 5.0)
            except Exception as e:
                last = e
        raise RuntimeError(f"etcd {path} failed on every member {order}: {last}")

    def _add_member(self, ctx: SystemContext, node: str) -> None:
        timeout_s = float(self.options.get("restore_timeout_s", 60))
        end = time.monotonic() + timeout_s
        if ctx.backend.is_running(node):
            ctx.backend.kill_node(node)
        resp: dict[str, Any] | None = None
        last: Exception | None = None
        while resp is None and time.monotonic() < end:
            try:
                resp = self._any_member_call(
                    ctx,
                    "/v3/cluster/member/add",
                    {"peerURLs": [self._peer_url(ctx, node)], "isLearner": True},
                )
            except Exception as e:
                last = e
                time.sleep(1.0)
        if resp is None:
            raise RuntimeError(f"etcd: cannot add {node} back as a learner: {last}")
        member_id = resp["member"]["ID"]
        self._start_learner(ctx, node)
        # A fresh learner normally syncs in a second or two; one that has not after a
        # third of the budget is restarted once, clean (seen rarely under load: a learner
        # that never caught up), rather than waiting out the whole budget.
        # The restart is recorded (an `etcd-learner-restarted` note in events.jsonl and
        # a log line), and a learner that fails again fails the restore loudly, saying
        # it was restarted: the retry must never hide a real restore failure.
        started = time.monotonic()
        restart_at: float | None = started + timeout_s / 3
        restarted = False
        while True:
            try:
                self._any_member_call(ctx, "/v3/cluster/member/promote", {"ID": member_id})
                break
            except Exception as e:
                last = e
            if restart_at is not None and time.monotonic() > restart_at:
                restart_at = None
                restarted = True
                waited = time.monotonic() - started
                log.warning(
                    "etcd: learner %s not in sync after %.1f s (%s): restarting it clean once",
                    node,
                    waited,
                    last,
                )
                if ctx.events is not None:
                    ctx.events.note(
                        "etcd-learner-restarted",
                        node=node,
                        after_s=round(waited, 2),
                        error=str(last),
                    )
                ctx.backend.kill_node(node)
                self._start_learner(ctx, node)
            if time.monotonic() > end:
                # Leave the cluster as it was: drop the learner, stop its container.
                try:
                    self._any_member_call(ctx, "/v3/cluster/member/remove", {"ID": member_id})
                finally:
                    ctx.backend.kill_node(node)
                again = " even after a clean restart" if restarted else ""
                raise RuntimeError(
                    f"etcd: {node} did not catch up within {timeout_s:.0f}s{again} (is its "
                    f"region still cut off?): {last}"
                )
            time.sleep(0.5)
        self.wait_ready(ctx, [node], max(5.0, end - time.monotonic()))

    def _start_learner(self, ctx: SystemContext, node: str) -> None:
        """Start `node` with clean data, joining the current members as a learner."""
        self._joining[node] = [*ctx.members, node]
        try:
            ctx.backend.start_node(node, self.node_spec(node, ctx))
        finally:
            self._joining.pop(node, None)


__all__ = ["EtcdAdapter", "EtcdError", "CLOCK_SKEW_REASON"]
