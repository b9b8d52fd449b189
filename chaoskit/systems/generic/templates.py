"""Placeholders of the generic system spec, by where a template is used.

Node side (`command`, `env`: what the node itself runs; addresses as the node
sees them, so peer traffic crosses the links):
  {name} {region} {zone} {data_dir} {host} {port.P} {listen.P} {peers.P} {members}
Per peer, inside an `each_peer` argv item:
  {peer} {peer_region} {peer_zone} {peer_host.P} {peer_port.P} {peer_addr.P}
Harness side (`ready.command`, `roles`, `degrade`, `restore`: run on the
harness's host; addresses as the harness reaches the node):
  {name} {region} {zone} {host.P} {port.P} {addr.P}
  degrade adds {survivors}; restore adds {members} and {returning}.
P is one of the system's `ports`.
"""

from __future__ import annotations

import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?:\.([A-Za-z0-9_-]+))?\}")

NODE = {"name", "region", "zone", "data_dir", "host", "members"}
NODE_PORTED = {"port", "listen", "peers"}
PEER = {"peer", "peer_region", "peer_zone"}
PEER_PORTED = {"peer_host", "peer_port", "peer_addr"}
HARNESS = {"name", "region", "zone"}
HARNESS_PORTED = {"host", "port", "addr"}
PEER_FORMAT = {"peer", "peer_region", "peer_zone", "addr", "host", "port"}

CONTEXTS: dict[str, tuple[set[str], set[str]]] = {
    "node": (NODE, NODE_PORTED),
    "each_peer": (NODE | PEER, NODE_PORTED | PEER_PORTED),
    "harness": (HARNESS, HARNESS_PORTED),
    "degrade": (HARNESS | {"survivors"}, HARNESS_PORTED),
    "restore": (HARNESS | {"members", "returning"}, HARNESS_PORTED),
    "peer_format": (PEER_FORMAT, set()),
}


def problems(template: str, context: str, ports: list[str]) -> list[str]:
    """What is wrong with the placeholders of `template` in `context`, in words."""
    plain, ported = CONTEXTS[context]
    out = []
    for m in _PLACEHOLDER.finditer(template):
        name, port = m.group(1), m.group(2)
        whole = m.group(0)
        if port is None and name in plain:
            continue
        if port is not None and name in ported:
            if port not in ports:
                out.append(
                    f"unknown port name {port!r} in {whole}; this system's ports: {', '.join(ports)}"
                )
            continue
        if port is None and name in ported:
            out.append(f"{whole} needs a port name, e.g. {{{name}.{ports[0]}}}")
            continue
        valid = sorted(plain) + [f"{n}.PORT" for n in sorted(ported)]
        out.append(
            f"unknown placeholder {whole} here; valid: " + ", ".join("{" + v + "}" for v in valid)
        )
    return out


def render(template: str, values: dict[str, Any]) -> str:
    """Replace every placeholder found in `values` ("port.client" keys for ported ones)."""

    def sub(m: re.Match) -> str:
        key = m.group(1) if m.group(2) is None else f"{m.group(1)}.{m.group(2)}"
        return str(values[key]) if key in values else m.group(0)

    return _PLACEHOLDER.sub(sub, template)
