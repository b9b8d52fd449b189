"""The `redis` client protocol: registers and sets on one Redis server, classified honestly.

Values are stored as JSON text (the register holds integers). Operations:

- read: GET; write: SET; cas [expected, new]: a Lua script that compares and sets
  in one step (Redis runs a script atomically); expected None means "key absent".
- add: SADD of the element; read-all: SMEMBERS (a set of integers).

Classification (principle: `fail` only when the command certainly had no effect):

- every failed read is `fail` (a read has no effect);
- an error reply is `fail`: Redis checks a command (READONLY on a replica,
  NOREPLICAS under min-replicas-to-write, MASTERDOWN, LOADING, wrong type) before it
  runs it, and a script that errors before its SET wrote nothing;
- a connection that could not be made is `fail` (nothing was sent);
- a timeout or a connection lost after the command was sent is `info`;
- a cas whose compare did not match is `fail` with error "cas-mismatch: ...".

Options (`client:` block of a generic system, or set by an adapter):
  db: N            database number (default 0)
  password: TEXT   AUTH password (default none)
"""

from __future__ import annotations

import json
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoskit.systems.base import CAS_MISMATCH, Client, Outcome, unknown_names

OPTIONS = {"db", "password"}

# KEYS[1]; ARGV[1] = expected JSON ("" = absent), ARGV[2] = new JSON.
# Returns 1 when set, 0 on a mismatch.
CAS_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

READS = ("read", "read-all")


def _dump(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


def _load(raw: bytes | str | None) -> Any:
    if raw is None:
        return None
    return json.loads(raw)


def _connect_failed(e: redis.ConnectionError) -> bool:
    """Whether the connection was never made (so no command reached the server)."""
    text = str(e)
    return (
        any(
            m in text
            for m in ("Connection refused", "Error 111", "No route to host", "connecting to")
        )
        and "Connection reset" not in text
    )


class RedisClient(Client):
    """One connection to one Redis server (reconnects lazily after an error)."""

    def __init__(self, options: dict, host: str, port: int, timeout_s: float) -> None:
        self.options = dict(options or {})
        self.host, self.port, self.timeout_s = host, int(port), float(timeout_s)
        self._r = redis.Redis(
            host=self.host,
            port=self.port,
            db=int(self.options.get("db", 0)),
            password=self.options.get("password"),
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            # No silent retries: each invocation is one attempt, classified as it went.
            retry=Retry(NoBackoff(), 0),
        )
        self._cas = self._r.register_script(CAS_SCRIPT)

    @classmethod
    def check_options(cls, options: dict) -> list[tuple[str, str]]:
        problems = unknown_names(options, sorted(OPTIONS), "redis option")
        db = options.get("db", 0)
        if not isinstance(db, int) or isinstance(db, bool) or db < 0:
            problems.append(("db", f"{db!r} must be a database number >= 0"))
        pw = options.get("password")
        if pw is not None and not isinstance(pw, str):
            problems.append(("password", f"{pw!r} must be a string"))
        return problems

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        if f not in ("read", "write", "cas", "add", "read-all"):
            raise ValueError(f"redis client: unsupported operation {f!r}")
        try:
            return self._run(f, key, value)
        except redis.ResponseError as e:
            # NOSCRIPT is handled by redis-py's Script (it loads and retries).
            return Outcome("fail", None, f"redis error: {e}")
        except redis.TimeoutError as e:
            self._reset()
            sent = "connecting" not in str(e)
            return Outcome("info" if sent and f not in READS else "fail", None, f"timeout: {e}")
        except redis.ConnectionError as e:
            self._reset()
            if f in READS or _connect_failed(e):
                return Outcome("fail", None, f"connection failed: {e}")
            return Outcome("info", None, f"connection lost: {e}")

    def _run(self, f: str, key: str, value: Any) -> Outcome:
        r = self._r
        if f == "read":
            return Outcome("ok", _load(r.get(key)))
        if f == "write":
            r.set(key, _dump(value))
            return Outcome("ok", value)
        if f == "add":
            r.sadd(key, _dump(value))
            return Outcome("ok", value)
        if f == "read-all":
            return Outcome("ok", sorted(_load(m) for m in r.smembers(key)))
        expected, new = value
        done = self._cas(keys=[key], args=["" if expected is None else _dump(expected), _dump(new)])
        if int(done) == 1:
            return Outcome("ok", [expected, new])
        return Outcome("fail", [expected, new], f"{CAS_MISMATCH}: value differs")

    def role(self) -> str:
        """ "master" or "slave" (Redis's ROLE reply); raises redis errors."""
        reply = self._r.execute_command("ROLE")
        role = reply[0]
        return role.decode() if isinstance(role, bytes) else str(role)

    def _reset(self) -> None:
        try:
            self._r.connection_pool.disconnect()
        except Exception:
            pass

    def close(self) -> None:
        try:
            self._r.close()
        except Exception:
            pass
