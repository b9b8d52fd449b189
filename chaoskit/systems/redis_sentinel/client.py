"""A load user's Redis client that finds the primary through Sentinel, as applications do.

It asks the Sentinels (its own region's first) which node is the primary, then
talks to that node through its region's view of it (the links), with the `redis`
protocol client (chaoskit.clients.redis). Like Jedis or redis-py's Sentinel pool,
it keeps its connection to the primary it was given until that connection fails
or the node says it is no longer writable; then it asks the Sentinels again. When
no Sentinel answers, it keeps using the last primary it knew: a client cut off
with an isolated old primary keeps writing to it, which is exactly how writes are
lost in a Sentinel failover.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoskit.clients.redis import RedisClient
from chaoskit.systems.base import Client, Outcome
from chaoskit.topology.model import Endpoint

REDISCOVER_AFTER_S = 0.5  # at most this often after a failure


class SentinelClient(Client):
    def __init__(
        self,
        view: dict[str, dict[str, Endpoint]],
        sentinels: list[str],
        master: str,
        timeout_s: float,
    ) -> None:
        self.view = view
        self.sentinels = sentinels
        self.master = master
        self.timeout_s = timeout_s
        self.node: str | None = None
        self._client: RedisClient | None = None
        self._last_lookup = 0.0

    def _ask_sentinels(self) -> str | None:
        for s in self.sentinels:
            ep = self.view[s]["sentinel"]
            conn = redis.Redis(
                host=ep.host,
                port=ep.port,
                socket_timeout=min(1.0, self.timeout_s),
                socket_connect_timeout=min(1.0, self.timeout_s),
                retry=Retry(NoBackoff(), 0),
            )
            try:
                reply = conn.execute_command("SENTINEL", "get-master-addr-by-name", self.master)
            except redis.RedisError:
                continue
            finally:
                conn.close()
            if reply:
                host = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                if host in self.view:
                    return host
        return None

    def _connect(self, force: bool) -> RedisClient | None:
        now = time.monotonic()
        if self._client is not None and not force:
            return self._client
        if force and now - self._last_lookup < REDISCOVER_AFTER_S and self._client is not None:
            return self._client
        self._last_lookup = now
        node = self._ask_sentinels() or self.node
        if node is None:
            return None
        if node != self.node or self._client is None:
            if self._client is not None:
                self._client.close()
            ep = self.view[node]["redis"]
            self._client = RedisClient({}, ep.host, ep.port, self.timeout_s)
            self.node = node
        return self._client

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        client = self._connect(force=False)
        if client is None:
            return Outcome("fail", None, "no Sentinel answered and no primary is known")
        out = client.invoke(f, key, value)
        if out.type != "ok" and not (out.error or "").startswith("cas-mismatch"):
            self._connect(force=True)  # the next operation goes where Sentinel says
        return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
