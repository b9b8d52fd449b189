"""`python -m chaoskit.systems.geokv`: run one node until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sys

from chaoskit.systems.geokv.config import ConfigError, parse_args
from chaoskit.systems.geokv.server import GeoKVServer, make_engine


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
    except ConfigError as e:
        print(f"geokv: configuration error: {e}", file=sys.stderr)
        return 2
    engine = make_engine(cfg)
    try:
        server = GeoKVServer(cfg, engine)
    except OSError as e:
        print(
            f"geokv {cfg.id}: cannot listen on {cfg.listen_host}:{cfg.listen_port}: {e}",
            file=sys.stderr,
        )
        engine.close()
        return 1

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    print(
        f"geokv {cfg.id} region={cfg.region} mode={cfg.mode} listening on {host}:{port} "
        f"members={','.join(engine.members)}",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        engine.close()
        engine.pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
