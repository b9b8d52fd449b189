"""Getting a system client for one region, whichever process we are in."""

from __future__ import annotations

import importlib
from typing import Any

from chaoskit.load.plan import LoadPlan
from chaoskit.systems.base import Client, SystemAdapter


def adapter_class(kind: str) -> type[SystemAdapter]:
    """The adapter class for `kind`.

    A "package.module:Class" kind names an adapter directly (tests, plug-ins);
    otherwise the systems registry (chaoskit.systems.get_adapter) decides.
    """
    if ":" in kind:
        mod, attr = kind.split(":", 1)
        return getattr(importlib.import_module(mod), attr)
    import chaoskit.systems as systems

    get = getattr(systems, "get_adapter", None)
    if get is not None:
        return get(kind)
    if kind == "geokv":  # the registry is not there yet: the one adapter we know
        from chaoskit.systems.geokv.adapter import GeoKVAdapter

        return GeoKVAdapter
    raise KeyError(f"unknown system kind {kind!r}")


def make_client(plan: LoadPlan, region: str, adapter: SystemAdapter | None = None) -> Client:
    adapter = adapter or adapter_class(plan.system_kind)(plan.system_options)
    return adapter.client(plan.endpoint_view(region), region, plan.workload.timeout_s)


def client_node(client: Any) -> str | None:
    """The node a client currently talks to, if the client says (for the record)."""
    for attr in ("node", "current_node", "target"):
        v = getattr(client, attr, None)
        if isinstance(v, str):
            return v
    return None
