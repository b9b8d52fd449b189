"""`python -m chaoskit.links --host 127.0.0.1 --port 0 --port-file PATH [--log-level INFO]`

The link server as a process (the engine runs it so, and it is the link
container's entrypoint). Standard library + aiohttp only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chaoskit.access import LINKS_TOKEN_ENV, token_for
from chaoskit.links.server import configure_logging, serve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m chaoskit.links",
        description="Toxiproxy-compatible link server (chaoskit).",
    )
    ap.add_argument("--host", default="127.0.0.1", help="API address to bind (default 127.0.0.1)")
    ap.add_argument(
        "--port", type=int, default=8474, help="API port; 0 picks a free one (default 8474)"
    )
    ap.add_argument("--port-file", help="write the bound API port to this file once listening")
    ap.add_argument(
        "--token",
        default=os.environ.get(LINKS_TOKEN_ENV),
        help=f"require this token on every request (default ${LINKS_TOKEN_ENV}; "
        "generated and printed when --host is not loopback)",
    )
    ap.add_argument(
        "--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)"
    )
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        ap.error(f"--port must be within 0..65535, got {args.port}")
    configure_logging(args.log_level)
    token, line = token_for(args.host, args.token, "link API")
    if line:
        print(line, file=sys.stderr, flush=True)
    try:
        asyncio.run(serve(args.host, args.port, args.port_file, token))
    except OSError as e:
        print(
            f"chaoskit links: cannot listen on {args.host}:{args.port}: {e.strerror or e}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
