"""Live Prometheus metrics of a running experiment.

The engine process hosts the endpoint (`chaoskit run --metrics-port N`). The load
runs in its own (Locust) process and only appends to history.jsonl, so metrics
come from tailing that file, plus events.jsonl for faults and link state:

    m = LiveMetrics(topology)                     # topology optional: link -> region labels
    port = m.start(history_path, events_path, port=9464)   # 0 = any free port
    ...
    m.stop()                                      # drains both files, closes the port

Metric names and labels (dashboards/chaoskit.json uses exactly these):

    chaoskit_operations_total{region, f, outcome}              counter (outcome ok|rejected|fail|info)
    chaoskit_operation_latency_seconds{region, outcome}        histogram
    chaoskit_operations_in_flight{region}                      gauge
    chaoskit_fault_active{id, fault}                           gauge 1 while applied, 0 once healed
    chaoskit_faults_active                                     gauge
    chaoskit_fault_events_total{fault, event}                  counter (apply|heal|heal-failed)
    chaoskit_link_cut{link, source_region, dest_region}        gauge 1 while a fault cuts the link
    chaoskit_link_degraded{link, source_region, dest_region}   gauge 1 while latency/bandwidth/flaky acts
    chaoskit_links_cut                                         gauge
    chaoskit_run_elapsed_seconds                               gauge (time base of the newest record)
    chaoskit_history_records_total                             counter
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from chaoskit.faults.base import CUTS_LINKS, DEGRADES_LINKS
from chaoskit.faults.catalogue import effect_of
from chaoskit.systems.base import is_cas_mismatch

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# "rejected": a `fail` cas whose compare did not match (error `cas-mismatch...`): the
# system answered, so availability panels count it as served, like the scorecard.
OUTCOMES = ("ok", "rejected", "fail", "info")


class _Tail:
    """Follow a file that another process appends JSON lines to (it may not exist yet)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fh: Any = None
        self.ino: int | None = None
        self.buf = ""

    def read_lines(self) -> list[str]:
        if self.fh is None:
            try:
                self.fh = self.path.open("r", encoding="utf-8")
                self.ino = os.fstat(self.fh.fileno()).st_ino
            except FileNotFoundError:
                return []
        chunk = self.fh.read()
        if not chunk:
            # Replaced (new inode) or truncated: start over from the new file.
            try:
                st = self.path.stat()
                if st.st_ino != self.ino or st.st_size < self.fh.tell():
                    self.close()
                    self.buf = ""
            except FileNotFoundError:
                pass
            return []
        self.buf += chunk
        *lines, self.buf = self.buf.split("\n")  # keep a partial last line for later
        return [ln for ln in lines if ln.strip()]

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class LiveMetrics:
    """Prometheus metrics fed by tailing a run's history.jsonl and events.jsonl."""

    def __init__(self, topology: Any = None, poll_s: float = 0.2) -> None:
        self.poll_s = poll_s
        self.registry = CollectorRegistry()
        r = self.registry
        self.ops = Counter(
            "chaoskit_operations",
            "Completed client operations.",
            ["region", "f", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "chaoskit_operation_latency_seconds",
            "Client operation latency (invocation to completion).",
            ["region", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "chaoskit_operations_in_flight",
            "Operations invoked and not completed.",
            ["region"],
            registry=r,
        )
        self.fault_active = Gauge(
            "chaoskit_fault_active",
            "1 while a fault is applied, 0 once healed.",
            ["id", "fault"],
            registry=r,
        )
        self.faults_active = Gauge(
            "chaoskit_faults_active", "Faults applied and not healed.", registry=r
        )
        self.fault_events = Counter(
            "chaoskit_fault_events", "Fault apply/heal events.", ["fault", "event"], registry=r
        )
        self.link_cut = Gauge(
            "chaoskit_link_cut",
            "1 while a fault cuts this link.",
            ["link", "source_region", "dest_region"],
            registry=r,
        )
        self.link_degraded = Gauge(
            "chaoskit_link_degraded",
            "1 while a latency/bandwidth/flaky fault acts on this link.",
            ["link", "source_region", "dest_region"],
            registry=r,
        )
        self.links_cut = Gauge("chaoskit_links_cut", "Links currently cut.", registry=r)
        self.elapsed = Gauge(
            "chaoskit_run_elapsed_seconds",
            "Run time (t0 base) of the newest record seen.",
            registry=r,
        )
        self.records = Counter(
            "chaoskit_history_records", "history.jsonl records read.", registry=r
        )
        self._elapsed = 0.0
        self._node_region: dict[str, str] = {}
        self._pending: dict[Any, tuple[int, str]] = {}  # process -> (invoke time ns, region)
        self._active: dict[
            str, tuple[str, list[str], str]
        ] = {}  # fault id -> (kind, links, effect)
        self._cut_count: dict[str, int] = {}
        self._deg_count: dict[str, int] = {}
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._tails: list[tuple[_Tail, Any]] = []
        self.port: int | None = None
        if topology is not None:
            for n in topology.nodes:
                self._node_region[n.name] = n.region
            for region in topology.region_names:
                self.in_flight.labels(region)  # series exist (at 0) before the first operation
        self.faults_active.set(0)
        self.links_cut.set(0)

    # -- feeding ---------------------------------------------------------------

    def feed_history(self, rec: dict) -> None:
        """One history.jsonl record (docs/contracts.md)."""
        with self._lock:
            self.records.inc()
            t = rec.get("time")
            if isinstance(t, int | float) and t / 1e9 > self._elapsed:
                self._elapsed = t / 1e9
                self.elapsed.set(self._elapsed)
            typ = rec.get("type")
            proc = rec.get("process")
            region = str(rec.get("region") or "?")
            f = str(rec.get("f") or "?")
            if (region, f) not in self._seen:
                self._seen.add((region, f))
                for o in OUTCOMES:  # start every outcome at 0 so rate() sees the first errors
                    self.ops.labels(region, f, o)
            if typ == "invoke":
                if proc in self._pending:
                    self.in_flight.labels(self._pending.pop(proc)[1]).dec()
                self._pending[proc] = (int(t or 0), region)
                self.in_flight.labels(region).inc()
            elif typ in ("ok", "fail", "info"):
                if typ == "fail" and is_cas_mismatch(rec.get("error")):
                    typ = "rejected"
                self.ops.labels(region, f, typ).inc()
                inv = self._pending.pop(proc, None)
                if inv is not None:
                    self.in_flight.labels(inv[1]).dec()
                    if isinstance(t, int | float):
                        self.latency.labels(region, typ).observe(max(0.0, (t - inv[0]) / 1e9))

    def _link_labels(self, link: str) -> tuple[str, str, str]:
        src, dst = "", ""
        if "->" in link:
            src, rest = link.split("->", 1)
            node = rest.rsplit(":", 1)[0]
            # Without a topology, fall back on the node naming rule `<region>-<n>`.
            dst = self._node_region.get(node) or (node.rsplit("-", 1)[0] if "-" in node else "")
        return link, src, dst

    def feed_event(self, ev: dict) -> None:
        """One events.jsonl record: faults and the link state they imply."""
        with self._lock:
            kind = ev.get("event")
            t = ev.get("time")
            if isinstance(t, int | float) and t / 1e9 > self._elapsed:
                self._elapsed = t / 1e9
                self.elapsed.set(self._elapsed)
            fid = str(ev.get("id"))
            fault = str(ev.get("fault", "?"))
            if kind == "apply":
                self.fault_events.labels(fault, "apply").inc()
                links = [str(x) for x in (ev.get("targets") or {}).get("links", []) or []]
                effect = effect_of(fault)
                effect = effect if effect in (CUTS_LINKS, DEGRADES_LINKS) else ""
                self._active[fid] = (fault, links, effect)
                self.fault_active.labels(fid, fault).set(1)
                for link in links:
                    self._bump(link, effect, +1)
            elif kind == "heal-failed":
                # The fault may well still act (links still cut): keep it shown as active.
                self.fault_events.labels(fault, kind).inc()
            elif kind == "heal":
                self.fault_events.labels(fault, kind).inc()
                got = self._active.pop(fid, None)
                if got is not None:
                    self.fault_active.labels(fid, got[0]).set(0)
                    for link in got[1]:
                        self._bump(link, got[2], -1)
            self.faults_active.set(len(self._active))
            self.links_cut.set(sum(1 for v in self._cut_count.values() if v > 0))

    def _bump(self, link: str, effect: str, d: int) -> None:
        if effect == CUTS_LINKS:
            n = self._cut_count[link] = max(0, self._cut_count.get(link, 0) + d)
            self.link_cut.labels(*self._link_labels(link)).set(1 if n else 0)
        elif effect == DEGRADES_LINKS:
            n = self._deg_count[link] = max(0, self._deg_count.get(link, 0) + d)
            self.link_degraded.labels(*self._link_labels(link)).set(1 if n else 0)

    # -- running ---------------------------------------------------------------

    def start(
        self,
        history_path: str | Path,
        events_path: str | Path,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> int:
        """Serve /metrics on host:port (0 = a free port) and follow both files; returns the port."""
        if self._thread is not None:
            raise RuntimeError("LiveMetrics already started")
        self._server, self._server_thread = start_http_server(
            port, addr=host, registry=self.registry
        )
        self.port = int(self._server.server_port)
        self._tails = [
            (_Tail(Path(history_path)), self.feed_history),
            (_Tail(Path(events_path)), self.feed_event),
        ]
        self._thread = threading.Thread(target=self._run, name="chaoskit-live-metrics", daemon=True)
        self._thread.start()
        return self.port

    def _drain(self) -> None:
        for tail, feed in self._tails:
            for line in tail.read_lines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    log.debug("live metrics: skipped a malformed line of %s", tail.path)
                    continue
                if isinstance(rec, dict):
                    feed(rec)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._drain()
            except Exception:  # noqa: BLE001 - metrics must never break a run
                log.exception("live metrics: tail failed")

    def stop(self) -> None:
        """Read what is left in both files, then close the endpoint. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            try:
                self._drain()
            except Exception:  # noqa: BLE001
                log.exception("live metrics: final drain failed")
        for tail, _ in self._tails:
            tail.close()
        self._tails = []
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread is not None:
                self._server_thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> LiveMetrics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
