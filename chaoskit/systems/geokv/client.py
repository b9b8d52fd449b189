"""The load users' client: one keep-alive connection to one node, honest outcomes.

Stdlib only (http.client over the socket module, one write per request), so it works unchanged inside a
gevent-monkey-patched Locust process. Classification:

- ok: HTTP 200.
- fail (certainly no effect): 4xx (bad request, cas mismatch, wrong type), 5xx whose
  body says `definite: true` (e.g. no quorum before anything was sent), connection
  refused (nothing was sent), and every failed read (reads have no effect).
- info (unknown): timeouts and connections lost after the request was sent, and
  5xx bodies that say `definite: false` (e.g. an accept phase that reached a
  minority).

On connection refusal the client fails over to the next node of its list (its
region's nodes); the node it currently talks to is `self.node`.
"""

from __future__ import annotations

import http.client
import json
import select
import time
from typing import Any

from chaoskit.systems.base import CAS_MISMATCH, Client, Outcome
from chaoskit.systems.httpconn import OneWriteHTTPConnection
from chaoskit.topology.model import Endpoint

READS = ("read", "read-all")
IDLE_RECONNECT_S = 60.0  # well under the server's idle timeout (300 s)


class GeoKVClient(Client):
    def __init__(self, nodes: list[tuple[str, Endpoint]], timeout_s: float, start: int = 0) -> None:
        if not nodes:
            raise ValueError("GeoKVClient needs at least one node")
        self.nodes = list(nodes)
        self.timeout_s = timeout_s
        self._i = start % len(self.nodes)
        self._conn: OneWriteHTTPConnection | None = None
        # Ask the node to answer within 80% of our timeout, so that refusals arrive
        # as definite answers instead of client-side timeouts (unknown outcomes).
        self._headers = {
            "Content-Type": "application/json",
            "X-Geokv-Budget-Ms": str(max(50, int(timeout_s * 800))),
        }
        self._used = 0.0

    @property
    def node(self) -> str:
        return self.nodes[self._i][0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _fresh(self) -> bool:
        """Drop a kept-alive connection the server has closed (readable at EOF) or that
        idled too long, so a request is never written into a dead socket."""
        c = self._conn
        if c is None or c.sock is None:
            return False
        if time.monotonic() - self._used > IDLE_RECONNECT_S:
            return False
        try:
            readable, _, _ = select.select([c.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def _connect(self) -> str | None:
        """Connect to the current node, failing over on refusal; None or the error."""
        if self._fresh():
            return None
        self.close()
        errors = []
        for step in range(len(self.nodes)):
            i = (self._i + step) % len(self.nodes)
            name, ep = self.nodes[i]
            conn = OneWriteHTTPConnection(ep.host, ep.port, timeout=self.timeout_s)
            try:
                conn.connect()
            except OSError as e:
                conn.close()
                errors.append(f"{name} ({ep}): {e.strerror or e!r}")
                continue
            self._i, self._conn, self._used = i, conn, time.monotonic()
            return None
        return "cannot connect: " + "; ".join(errors)

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        err = self._connect()
        if err is not None:
            return Outcome("fail", None, err)  # nothing was sent anywhere
        conn = self._conn
        assert conn is not None
        body = json.dumps({"f": f, "key": key, "value": value}).encode()
        try:
            conn.post("/op", body, self._headers)
            resp = conn.getresponse()
            raw = resp.read()
            self._used = time.monotonic()
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            self.close()
            what = "timed out" if isinstance(e, TimeoutError) else f"connection lost: {e!r}"
            return Outcome("fail" if f in READS else "info", None, f"{self.node}: {what}")
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"error": raw[:200].decode(errors="replace")}
        if not isinstance(data, dict):
            data = {"error": repr(data)[:200]}
        if resp.status == 200:
            return Outcome("ok", data.get("value"))
        error = f"{self.node}: HTTP {resp.status}: {data.get('error', '')}"
        if (
            f == "cas"
            and resp.status == 409
            and str(data.get("error", "")).startswith("cas mismatch")
        ):
            # The system answered: the precondition did not hold. Certainly not applied,
            # and not an unavailability (the scorecard counts it as served).
            return Outcome("fail", None, f"{CAS_MISMATCH}: {error}")
        if f in READS or 400 <= resp.status < 500 or data.get("definite") is True:
            return Outcome("fail", None, error)
        return Outcome("info", None, error)
