"""A register client over etcd's HTTP/JSON gateway (v3 API), classified honestly.

Keys and values travel base64-encoded; values are JSON (the register holds
integers). Reads are linearizable (`serializable: false`, etcd's default: a read
index round through the leader). Classification:
- read: any error is `fail` (a read has no effect);
- write/cas: a refused connection or etcd's "too many requests" is `fail`
  (never reached the raft log); a lost connection, a timeout or any other etcd
  error is `info` (the proposal may have been committed); a cas whose compare
  fails is `fail` (etcd evaluated it and did nothing), with error
  "cas-mismatch: compare failed" (chaoskit.systems.base.CAS_MISMATCH).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import requests

from chaoskit.systems.base import CAS_MISMATCH, Client, Outcome
from chaoskit.topology.model import Endpoint


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


def _refused(e: requests.ConnectionError) -> bool:
    # A failed connect (refused/unreachable/connect timeout) never sent the request.
    text = repr(e)
    return isinstance(e, requests.ConnectTimeout) or any(
        m in text for m in ("NewConnectionError", "Connection refused", "No route to host")
    )


class EtcdError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def call(
    session: requests.Session, ep: Endpoint, path: str, body: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """POST a v3 gateway request; raises EtcdError on an etcd error reply."""
    r = session.post(f"http://{ep.host}:{ep.port}{path}", json=body, timeout=timeout_s)
    try:
        data = r.json()
    except ValueError:
        data = {"error": r.text[:200]}
    if r.status_code != 200 or "error" in data:
        raise EtcdError(r.status_code, str(data.get("error") or data.get("message") or data))
    return data


class EtcdClient(Client):
    """Talks to one member at a time (`endpoints` in preference order); moves to the
    next member after a connection-level failure."""

    def __init__(self, endpoints: list[Endpoint], timeout_s: float = 2.0) -> None:
        if not endpoints:
            raise ValueError("EtcdClient needs at least one endpoint")
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self._i = 0
        self._session = requests.Session()

    @property
    def endpoint(self) -> Endpoint:
        return self.endpoints[self._i % len(self.endpoints)]

    def _rotate(self) -> None:
        self._i += 1

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return call(self._session, self.endpoint, path, body, self.timeout_s)

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        try:
            if f == "read":
                return self._read(key)
            if f == "write":
                self._post("/v3/kv/put", {"key": b64(key), "value": b64(json.dumps(value))})
                return Outcome("ok", value)
            if f == "cas":
                return self._cas(key, value)
        except requests.ConnectionError as e:
            self._rotate()
            if f == "read" or _refused(e):
                return Outcome("fail", None, f"connection failed: {e.__class__.__name__}")
            return Outcome("info", None, f"connection lost: {e.__class__.__name__}")
        except requests.Timeout:
            self._rotate()
            return Outcome("fail" if f == "read" else "info", None, "timeout")
        except EtcdError as e:
            if f == "read" or "too many requests" in e.message:
                return Outcome("fail", None, e.message)
            return Outcome("info", None, e.message)
        raise ValueError(f"etcd client: unsupported operation {f!r} (read, write, cas)")

    def _read(self, key: str) -> Outcome:
        data = self._post("/v3/kv/range", {"key": b64(key), "serializable": False})
        kvs = data.get("kvs") or []
        if not kvs:
            return Outcome("ok", None)
        return Outcome("ok", json.loads(unb64(kvs[0].get("value", ""))))

    def _cas(self, key: str, value: Any) -> Outcome:
        expected, new = value
        if expected is None:
            compare = {
                "key": b64(key),
                "target": "CREATE",
                "result": "EQUAL",
                "create_revision": "0",
            }
        else:
            compare = {
                "key": b64(key),
                "target": "VALUE",
                "result": "EQUAL",
                "value": b64(json.dumps(expected)),
            }
        data = self._post(
            "/v3/kv/txn",
            {
                "compare": [compare],
                "success": [{"request_put": {"key": b64(key), "value": b64(json.dumps(new))}}],
            },
        )
        if data.get("succeeded"):
            return Outcome("ok", [expected, new])
        # The stable marker lets the report count it as served (etcd answered).
        return Outcome("fail", [expected, new], f"{CAS_MISMATCH}: compare failed")

    def close(self) -> None:
        self._session.close()
