"""The `links:` section: which link server carries the inter-region traffic."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import (
    LinksSpec,
)
from chaoskit.experiment.validate.context import (
    LINKS_FIELDS,
    Context,
    show,
)


def links_section(v: Context, raw: Any, backend: str | None) -> LinksSpec:
    path: PathT = ("links",)
    spec = LinksSpec()
    m = v.mapping(path, raw, LINKS_FIELDS, "links")
    if not m:
        return spec
    if "server" in m:
        spec.server = (
            v.choice((*path, "server"), m["server"], ("builtin", "toxiproxy"), "link server")
            or "builtin"
        )
    for name in ("image", "url"):
        if name in m:
            if isinstance(m[name], str) and m[name]:
                setattr(spec, name, m[name])
            else:
                v.err((*path, name), f"expected a string, got {show(m[name])}")
    if spec.server == "toxiproxy":
        if backend == "docker" and not spec.image:
            v.err(
                path,
                "server: toxiproxy on the docker backend needs image: (e.g. ghcr.io/shopify/toxiproxy:2.9.0)",
            )
        if backend == "local" and not spec.url:
            v.err(
                path,
                "server: toxiproxy on the local backend needs url: of a running Toxiproxy API (e.g. http://127.0.0.1:8474)",
            )
    return spec
