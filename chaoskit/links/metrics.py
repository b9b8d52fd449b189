"""`/metrics` in the Prometheus text format (version 0.0.4), written by hand
because the link container has no prometheus_client.

Names and labels follow Toxiproxy's collectors/proxy.go:
toxiproxy_proxy_received_bytes_total / toxiproxy_proxy_sent_bytes_total
{direction, proxy, listener, upstream}. Unlike Toxiproxy (which adds bytes when a
connection ends), counters here grow while bytes flow. chaoskit adds
chaoskit_links_connections{proxy} and chaoskit_links_proxy_enabled{proxy}.
"""

from __future__ import annotations

from collections.abc import Iterable

from chaoskit.links.proxy import Proxy
from chaoskit.links.toxics import STREAMS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in kv.items()) + "}"


def render(proxies: Iterable[Proxy]) -> str:
    proxies = sorted(proxies, key=lambda p: p.name)
    out: list[str] = []
    for metric, idx, help_ in (
        (
            "toxiproxy_proxy_received_bytes_total",
            0,
            "Bytes read from the source side of a proxy, per direction.",
        ),
        (
            "toxiproxy_proxy_sent_bytes_total",
            1,
            "Bytes written to the destination side of a proxy, per direction.",
        ),
    ):
        out.append(f"# HELP {metric} {help_}")
        out.append(f"# TYPE {metric} counter")
        for p in proxies:
            for d in STREAMS:
                lab = _labels(direction=d, proxy=p.name, listener=p.listen, upstream=p.upstream)
                out.append(f"{metric}{lab} {p.counters[d][idx]}")
    out.append("# HELP chaoskit_links_connections Open client connections per proxy.")
    out.append("# TYPE chaoskit_links_connections gauge")
    for p in proxies:
        out.append(f"chaoskit_links_connections{_labels(proxy=p.name)} {len(p.conns)}")
    out.append("# HELP chaoskit_links_proxy_enabled 1 if the proxy is listening.")
    out.append("# TYPE chaoskit_links_proxy_enabled gauge")
    for p in proxies:
        out.append(f"chaoskit_links_proxy_enabled{_labels(proxy=p.name)} {int(p.enabled)}")
    return "\n".join(out) + "\n"
