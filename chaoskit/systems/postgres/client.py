"""A load user's SQL client that follows the Patroni leader, as an HAProxy in front of
a Patroni cluster does.

It asks the Patroni members (its own region's first) which one answers
`GET /primary` with 200, through its region's view (the links), and talks SQL to
that member with the `sql` protocol client (chaoskit.clients.sql). It keeps that
member until an operation fails for another reason than a cas mismatch, then asks
again:
- a member that answers 200 becomes the target;
- if none does, the last target is kept only while it does not answer at all (an
  application keeps its connection to a primary it cannot check); once it answers
  that it is no longer the primary (a demoted member serves stale reads as a
  standby), nothing is the target and operations fail until a primary appears.
A client in a cut-off city therefore keeps writing to its old primary for as long as
that primary accepts writes, as through an HAProxy whose checks cannot reach the
other members.
"""

from __future__ import annotations

import http.client
import time
from typing import Any

from chaoskit.clients.sql import SqlClient
from chaoskit.systems.base import Client, Outcome, is_cas_mismatch
from chaoskit.topology.model import Endpoint

REDISCOVER_AFTER_S = 0.5


def is_primary(ep: Endpoint, timeout_s: float) -> bool | None:
    """True: answers as the primary; False: answers, not the primary; None: no answer."""
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout_s)
    try:
        conn.request("GET", "/primary")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


class PatroniClient(Client):
    def __init__(
        self,
        view: dict[str, dict[str, Endpoint]],
        members: list[str],
        timeout_s: float,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.view, self.members, self.timeout_s = view, members, timeout_s
        self.options = dict(options or {})
        self.node: str | None = None
        self._sql: SqlClient | None = None
        self._last_lookup = 0.0

    def _find_primary(self) -> str | None:
        """The member answering as primary; else the last target if it did not answer."""
        answers: dict[str, bool | None] = {}
        for m in self.members:
            answers[m] = is_primary(self.view[m]["api"], min(1.0, self.timeout_s))
            if answers[m]:
                return m
        if self.node is not None and answers.get(self.node) is None:
            return self.node
        return None

    def _connect(self, force: bool) -> SqlClient | None:
        if self._sql is not None and not force:
            return self._sql
        now = time.monotonic()
        if self._sql is not None and now - self._last_lookup < REDISCOVER_AFTER_S:
            return self._sql
        self._last_lookup = now
        node = self._find_primary()
        if node is None:
            if self._sql is not None:
                self._sql.close()
            self._sql, self.node = None, None
            return None
        if node != self.node or self._sql is None:
            if self._sql is not None:
                self._sql.close()
            ep = self.view[node]["pg"]
            self._sql = SqlClient(self.options, ep.host, ep.port, self.timeout_s)
            self.node = node
        return self._sql

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        sql = self._connect(force=False)
        if sql is None:
            return Outcome("fail", None, "no Patroni member answers as primary")
        out = sql.invoke(f, key, value)
        if out.type != "ok" and not is_cas_mismatch(out.error):
            self._connect(force=True)
        return out

    def close(self) -> None:
        if self._sql is not None:
            self._sql.close()
            self._sql = None
