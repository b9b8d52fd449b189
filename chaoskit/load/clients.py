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
    from chaoskit.systems import get_adapter

    return get_adapter(kind)


def make_client(plan: LoadPlan, region: str, adapter: SystemAdapter | None = None) -> Client:
    """A client for `region` on the plan's endpoint view, with the workload's timeout."""
    adapter = adapter or adapter_class(plan.system_kind)(plan.system_options)
    return adapter.client(plan.endpoint_view(region), region, plan.workload.timeout_s)


def client_node(client: Any) -> str | None:
    """The node a client currently talks to, if the client says (for the record)."""
    for attr in ("node", "current_node", "target"):
        v = getattr(client, attr, None)
        if isinstance(v, str):
            return v
    return None
