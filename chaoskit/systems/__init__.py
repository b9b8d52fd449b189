"""chaoskit.systems: one adapter per system under test, looked up by kind.

The registry names modules, not classes, and imports an adapter only when it is
asked for: a system's module may pull in heavy or optional dependencies, and one
broken or missing adapter must not break validation of experiments using another.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.systems.base import SystemAdapter

# kind -> "module:ClassName" of its SystemAdapter subclass.
ADAPTERS: dict[str, str] = {
    "geokv": "chaoskit.systems.geokv.adapter:GeoKVAdapter",
    "etcd": "chaoskit.systems.etcd.adapter:EtcdAdapter",
    "redis-sentinel": "chaoskit.systems.redis_sentinel.adapter:RedisSentinelAdapter",
    "postgres-patroni": "chaoskit.systems.postgres.adapter:PatroniAdapter",
}


class UnknownSystemError(LookupError):
    """A system kind no adapter is registered for (message lists the known kinds)."""


def known_kinds() -> list[str]:
    return sorted(ADAPTERS)


def get_adapter(kind: str) -> type[SystemAdapter]:
    """The adapter CLASS for `kind` (instantiate it with the system's options).

    Raises UnknownSystemError for a kind that is not registered, and ImportError
    (naming the module) when the kind is registered but its module is missing.
    """
    if kind not in ADAPTERS:
        raise UnknownSystemError(
            f"unknown system kind {kind!r}; known kinds: {', '.join(known_kinds())}"
        )
    module_name, attr = ADAPTERS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(
            f"adapter for system {kind!r} ({module_name}) cannot be imported: {e}"
        ) from e
    return getattr(module, attr)
