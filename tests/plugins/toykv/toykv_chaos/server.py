"""`python3 -m toykv_chaos.server --listen HOST:PORT --data FILE`: one toykv node.

Protocol, one line each way: `GET key` -> `VALUE <json>`; `SET key <json>` -> `OK`;
`CAS key <json expected> <json new>` -> `OK` or `MISMATCH`; `ROLE` -> `primary`.
Writes are kept in memory and appended to FILE before they are acknowledged.
"""

from __future__ import annotations

import argparse
import json
import socketserver
import threading

STORE: dict[str, object] = {}
LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for raw in self.rfile:
            parts = raw.decode().split(" ", 3)
            cmd = parts[0].strip()
            with LOCK:
                if cmd == "GET":
                    reply = "VALUE " + json.dumps(STORE.get(parts[1].strip()))
                elif cmd == "SET":
                    STORE[parts[1]] = json.loads(parts[2])
                    self.server.journal.write(raw.decode())
                    self.server.journal.flush()
                    reply = "OK"
                elif cmd == "CAS":
                    key, expected, new = parts[1], json.loads(parts[2]), json.loads(parts[3])
                    if STORE.get(key) != expected:
                        reply = "MISMATCH"
                    else:
                        STORE[key] = new
                        reply = "OK"
                elif cmd == "ROLE":
                    reply = "primary"
                else:
                    reply = "ERROR unknown command"
            self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    with Server((host, int(port)), Handler) as srv, open(args.data, "a") as journal:
        srv.journal = journal
        print(f"toykv listening on {host}:{port}", flush=True)
        srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
