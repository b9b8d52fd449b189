"""Node-to-node requests: keep-alive HTTP with timeouts, fanned out concurrently.

Each request goes out in one write on a TCP_NODELAY socket
(chaoskit.systems.httpconn, stdlib only): http.client writes headers and body
separately, two system calls per message and, on a Nagle socket, a body held back
until the previous segment is acknowledged.

Every call has a timeout because a blackholed link never answers. A fan-out sends
to all targets at once and returns as soon as enough have answered (or enough have
failed that the target count can no longer be reached); stragglers finish in the
background on the pool's threads.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from chaoskit.systems.geokv.clock import monotonic
from chaoskit.systems.geokv.config import Peer
from chaoskit.systems.httpconn import OneWriteHTTPConnection


def _closed(conn: OneWriteHTTPConnection) -> bool:
    """A kept-alive connection the other end closed (readable at EOF, or reset)."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class PeerError(Exception):
    """A node-to-node request failed. `definite`: the peer certainly never got it."""

    def __init__(self, msg: str, definite: bool) -> None:
        super().__init__(msg)
        self.definite = definite


@dataclass
class Reply:
    peer: str
    status: int  # HTTP status, 0 when the request failed
    body: dict[str, Any]
    error: PeerError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


class PeerPool:
    # At most this many requests in flight to a peer that timed out lately: calls
    # into a blackholed link each hold a pool thread until their timeout and must
    # not starve the calls to healthy peers (beyond the cap a call fails at once,
    # unsent). Healthy peers are not capped.
    MAX_IN_FLIGHT_SUSPECT = 8
    SUSPECT_FOR_S = 1.0

    def __init__(self, peers: dict[str, Peer], timeout_s: float, workers: int = 96) -> None:
        self.peers = peers
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._inflight: dict[str, int] = {}
        self._timed_out: dict[str, float] = {}
        self._probing: set[str] = set()
        self._answered: dict[str, float] = {}
        self._ilock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="geokv-peer")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _conns(self) -> dict[str, tuple[OneWriteHTTPConnection, float]]:
        c = getattr(self._local, "conns", None)
        if c is None:
            c = self._local.conns = {}
        return c

    def call(
        self,
        peer: str,
        path: str,
        body: dict[str, Any],
        timeout_s: float | None = None,
        idempotent: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """POST JSON to `peer`; never raises (errors come back in Reply.error)."""
        return self._call(peer, path, body, timeout_s, idempotent, headers)

    def suspect(self, peer: str) -> bool:
        """The peer timed out or refused a connection lately (and has not answered since)."""
        return monotonic() - self._timed_out.get(peer, -1e9) < self.SUSPECT_FOR_S

    def heard_from(self, peer: str, within_s: float) -> bool:
        """The peer answered a request in the last `within_s` seconds."""
        return monotonic() - self._answered.get(peer, -1e9) < within_s

    def claim_probe(self, peer: str) -> bool:
        """For callers that fail fast on suspects: True if this caller may send
        anyway, as the one probe in flight to that peer (release_probe after)."""
        with self._ilock:
            if peer in self._probing:
                return False
            self._probing.add(peer)
            return True

    def release_probe(self, peer: str) -> None:
        with self._ilock:
            self._probing.discard(peer)

    def _capped_call(
        self, peer: str, path: str, body: dict[str, Any], timeout_s: float | None
    ) -> Reply:
        with self._ilock:
            n = self._inflight.get(peer, 0)
            suspect = monotonic() - self._timed_out.get(peer, -1e9) < self.SUSPECT_FOR_S
            if suspect and n >= self.MAX_IN_FLIGHT_SUSPECT:
                return Reply(
                    peer,
                    0,
                    {},
                    PeerError(f"{peer}: {n} requests already in flight, not sent", True),
                )
            self._inflight[peer] = n + 1
        try:
            return self._call(peer, path, body, timeout_s, True, None)
        finally:
            with self._ilock:
                self._inflight[peer] -= 1

    def _call(
        self,
        peer: str,
        path: str,
        body: dict[str, Any],
        timeout_s: float | None,
        idempotent: bool,
        headers: dict[str, str] | None,
    ) -> Reply:
        p = self.peers[peer]
        timeout = timeout_s or self.timeout_s
        data = json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conns = self._conns()
        for attempt in (0, 1):
            entry = conns.pop(peer, None)
            reused = entry is not None
            if entry is None or monotonic() - entry[1] > 30.0 or _closed(entry[0]):
                if entry is not None:
                    entry[0].close()
                    reused = False
                # keep-alive, TCP_NODELAY, each request in one write (headers and body)
                conn = OneWriteHTTPConnection(p.host, p.port, timeout=timeout)
            else:
                conn = entry[0]
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
            sent = False
            try:
                if conn.sock is None:
                    conn.connect()
                conn.post(path, data, hdrs)
                sent = True
                resp = conn.getresponse()
                raw = resp.read()
                conns[peer] = (conn, monotonic())
                self._timed_out.pop(peer, None)  # it answers: no longer suspect
                self._answered[peer] = monotonic()
                try:
                    parsed = json.loads(raw) if raw else {}
                except ValueError:
                    parsed = {"error": raw[:200].decode(errors="replace")}
                return Reply(peer, resp.status, parsed if isinstance(parsed, dict) else {})
            except ConnectionRefusedError as e:
                conn.close()
                self._timed_out[peer] = monotonic()
                return Reply(peer, 0, {}, PeerError(f"{peer}: connection refused ({e})", True))
            except (TimeoutError, OSError, http.client.HTTPException) as e:
                conn.close()
                # A keep-alive connection the peer closed while idle: the request never
                # arrived; retrying is safe for idempotent internal messages only.
                if reused and attempt == 0 and idempotent and not isinstance(e, TimeoutError):
                    continue
                if isinstance(e, TimeoutError):
                    self._timed_out[peer] = monotonic()
                what = "timed out" if isinstance(e, TimeoutError) else f"failed: {e!r}"
                return Reply(
                    peer, 0, {}, PeerError(f"{peer}: request {what}", not sent and not reused)
                )
        raise AssertionError("unreachable")

    def submit(self, fn: Callable[[], Reply]) -> Future[Reply]:
        return self._pool.submit(fn)

    def fanout(
        self,
        targets: list[str],
        path: str,
        body: dict[str, Any],
        need: int,
        good: Callable[[Reply], bool] = lambda r: r.ok,
        local: Callable[[], Reply] | None = None,
        local_name: str | None = None,
        timeout_s: float | None = None,
        settle: bool = False,
    ) -> list[Reply]:
        """Send to all `targets`; return once `need` replies are good or that became
        impossible (with `settle`, once it failed, wait for every reply up to the
        timeout, to learn whether the message took effect anywhere). `local` answers
        for `local_name` in-process (no HTTP to self)."""
        replies: list[Reply] = []
        futures: list[Future[Reply]] = []
        n_good = 0
        for t in targets:
            if t == local_name and local is not None:
                r = local()
                replies.append(r)
                n_good += good(r)
            else:
                futures.append(self._pool.submit(self._capped_call, t, path, body, timeout_s))
        pending = set(futures)
        deadline = monotonic() + (timeout_s or self.timeout_s) + 0.05
        while pending and n_good < need:
            # Stop early when the remaining replies cannot reach `need` any more.
            if n_good + len(pending) < need and not settle:
                break
            left = deadline - monotonic()
            if left <= 0:
                break
            done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for f in done:
                r = f.result()
                replies.append(r)
                n_good += good(r)
        return replies
