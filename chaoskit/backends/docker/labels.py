"""Labels and names every docker resource of chaoskit carries.

Every container, network and volume gets `chaoskit=1` (so `chaoskit clean` finds
all of them) and `chaoskit.run=<run id>` (so one run removes exactly its own).
"""

from __future__ import annotations

import os
import re

LABEL = "chaoskit"
RUN_LABEL = "chaoskit.run"
ROLE_LABEL = "chaoskit.role"  # "node" | "links" | "network"
NODE_LABEL = "chaoskit.node"
PID_LABEL = "chaoskit.pid"  # the harness process that owns the run (`clean` spares live ones)
IMAGE_LABEL = "chaoskit.image"  # on images: "base" | "node" (images are a cache: clean keeps them)


def labels(run_id: str, role: str, node: str | None = None) -> dict[str, str]:
    out = {LABEL: "1", RUN_LABEL: run_id, ROLE_LABEL: role, PID_LABEL: str(os.getpid())}
    if node is not None:
        out[NODE_LABEL] = node
    return out


def safe(name: str) -> str:
    """A docker-safe form of a name (containers/networks allow [a-zA-Z0-9_.-])."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", name)


def container_name(run_id: str, node: str) -> str:
    # Prefixed with the run id so two runs (or a leftover) never clash on a name;
    # the node's own name is its hostname and DNS alias, which is what systems use.
    return f"chaoskit-{safe(run_id)}-{safe(node)}"


def network_name(run_id: str, region: str) -> str:
    return f"chaoskit-{safe(run_id)}-{safe(region)}"
