"""chaoskit.clients: built-in client protocols that map the workload's operations
(read, write, cas, add, read-all) to requests of a system described in YAML.

One registry, `PROTOCOLS`: protocol name -> "module:Class". Each class subclasses
`chaoskit.systems.base.Client` and is built as `Cls(options, host, port, timeout_s)`;
its classmethod `check_options(options)` returns `(field path inside the client
block, message naming what is valid)` per mistake, `[]` when fine; `invoke(f, key,
value)` returns an honest Outcome (ok / fail / info: a client that cannot tell says
info); `close()` releases connections. Modules are imported only when asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.systems.base import Client

PROTOCOLS: dict[str, str] = {
    "http": "chaoskit.clients.http:HttpClient",
    "command": "chaoskit.clients.command:CommandClient",
    "redis": "chaoskit.clients.redis:RedisClient",
    "sql": "chaoskit.clients.sql:SqlClient",
}

# The operations a workload sends (chaoskit.load.workloads), by workload.
WORKLOAD_OPS: dict[str, tuple[str, ...]] = {
    "register": ("read", "write"),
    "cas-register": ("read", "write", "cas"),
    "set": ("add", "read-all"),
}


class UnknownProtocolError(LookupError):
    """A protocol name that is not in PROTOCOLS (the message lists the valid ones)."""


def protocol_names() -> list[str]:
    return sorted(PROTOCOLS)


def get_protocol(name: str) -> type[Client]:
    """The client class of protocol `name`; ImportError names the module if it is missing."""
    if name not in PROTOCOLS:
        raise UnknownProtocolError(
            f"unknown client protocol {name!r}; valid: {', '.join(protocol_names())}"
        )
    module_name, attr = PROTOCOLS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(
            f"client protocol {name!r} ({module_name}) cannot be imported: {e}"
        ) from e
    return getattr(module, attr)
