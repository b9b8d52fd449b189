"""One-shot links setup for `chaoskit compose` files (runs in the links-init service).

Waits for the Toxiproxy API, POSTs /populate with the proxies, then adds each
proxy's latency toxics. Stdlib only: it runs in the node image.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from chaoskit.access import LINKS_TOKEN_ENV, TOKEN_HEADER


def _req(api: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(LINKS_TOKEN_ENV)
    if token:  # the link server listens beyond loopback: chaoskit.access
        headers[TOKEN_HEADER] = token
    req = urllib.request.Request(api + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def apply(api: str, config: dict[str, Any], wait_s: float = 60.0) -> int:
    end = time.monotonic() + wait_s
    while True:
        try:
            _req(api, "GET", "/version")
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > end:
                raise
            time.sleep(0.5)
    _req(api, "POST", "/populate", config["proxies"])
    n = 0
    for proxy, toxics in config["toxics"].items():
        existing = {t["name"] for t in _req(api, "GET", f"/proxies/{proxy}/toxics") or []}
        for t in toxics:
            if t["name"] not in existing:  # idempotent: a restart of links-init is harmless
                _req(api, "POST", f"/proxies/{proxy}/toxics", t)
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--api", required=True)
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    with open(args.config) as f:
        config = json.load(f)
    n = apply(args.api, config)
    print(f"links-init: {len(config['proxies'])} proxies, {n} toxics", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
