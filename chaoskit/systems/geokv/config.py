"""Node configuration: from a JSON file and/or command-line arguments (stdlib only).

Every error names the field (and the file when there is one) and says what would
be valid, so a misconfigured node dies at once with a readable message.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

MODES = ("quorum", "lww", "unit")
PROPOSERS = ("leader", "local")


class ConfigError(ValueError):
    """A bad configuration value; the message names the field."""


@dataclass(frozen=True)
class Peer:
    name: str
    region: str
    host: str
    port: int


@dataclass
class NodeConfig:
    id: str
    region: str
    mode: str
    listen_host: str
    listen_port: int
    # How THIS node reaches every node, itself included (AddressPlan.peer_map).
    peers: dict[str, Peer]
    # Current membership (quorum size, replication targets, primaries), in order.
    members: list[str]
    homes: dict[str, str] = field(default_factory=dict)  # unit: key -> home region
    failover_s: float | None = None  # unit: hand a lost home to the next region after this
    replication_delay_s: float = 0.0  # lww/unit: delay before async replication
    peer_timeout_s: float = 1.0  # one node-to-node request (a blackholed link never answers)
    op_timeout_s: float = 3.0  # one client operation, retries included (clients may ask for less)
    max_body: int = 1 << 20  # larger request bodies get 413
    proposer: str = "leader"  # quorum: forward to the key's leader, or propose locally
    data_dir: str | None = None  # journal of the node's state (survives kill + restart)

    @property
    def regions(self) -> list[str]:
        return sorted({p.region for p in self.peers.values()})

    def region_of(self, node: str) -> str:
        return self.peers[node].region


def _endpoint(text: str, where: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{where}: {text!r} is not host:port (e.g. 127.0.0.1:7001)")
    return host, int(port)


def _parse_peer_arg(text: str) -> tuple[str, dict[str, Any]]:
    # name=region@host:port
    name, eq, rest = text.partition("=")
    region, at, ep = rest.partition("@")
    if not eq or not at or not name or not region:
        raise ConfigError(f"--peer: {text!r} is not name=region@host:port")
    host, port = _endpoint(ep, f"--peer {name}")
    return name, {"region": region, "host": host, "port": port}


def from_dict(raw: dict[str, Any], source: str = "config") -> NodeConfig:
    """Build and validate a NodeConfig from plain data (a JSON file's content)."""

    def need(key: str) -> Any:
        if key not in raw or raw[key] in (None, ""):
            raise ConfigError(f"{source}: field {key!r} is required")
        return raw[key]

    node_id = str(need("id"))
    region = str(need("region"))
    mode = str(raw.get("mode", "quorum"))
    if mode not in MODES:
        raise ConfigError(f"{source}: field 'mode' is {mode!r}; valid: {', '.join(MODES)}")
    host, port = _endpoint(need("listen"), f"{source}: field 'listen'")
    peers_raw = raw.get("peers") or {}
    if not isinstance(peers_raw, dict):
        raise ConfigError(f"{source}: field 'peers' must map node -> {{region, host, port}}")
    peers: dict[str, Peer] = {}
    for name, p in peers_raw.items():
        where = f"{source}: field 'peers.{name}'"
        if not isinstance(p, dict) or not {"region", "host", "port"} <= set(p):
            raise ConfigError(f'{where} must be {{"region", "host", "port"}}, got {p!r}')
        try:
            peers[name] = Peer(str(name), str(p["region"]), str(p["host"]), int(p["port"]))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: port {p['port']!r} is not an integer") from None
    if node_id not in peers:
        # A lone node needs no peer map; it reaches itself directly.
        peers[node_id] = Peer(node_id, region, host if host != "0.0.0.0" else "127.0.0.1", port)
    elif peers[node_id].region != region:
        raise ConfigError(
            f"{source}: field 'peers.{node_id}.region' is {peers[node_id].region!r} "
            f"but this node's region is {region!r}"
        )
    members = raw.get("members") or list(peers)
    if isinstance(members, str):
        members = [m for m in members.split(",") if m]
    for m in members:
        if m not in peers:
            raise ConfigError(
                f"{source}: field 'members' names {m!r}, which is not in 'peers' "
                f"(known: {', '.join(sorted(peers))})"
            )
    homes = raw.get("homes") or {}
    regions = {p.region for p in peers.values()}
    for key, home in homes.items():
        if home not in regions:
            raise ConfigError(
                f"{source}: field 'homes.{key}' is {home!r}; valid regions: {', '.join(sorted(regions))}"
            )

    def number(key: str, default: float | None, minimum: float = 0.0) -> float | None:
        v = raw.get(key, default)
        if v is None:
            return None
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: field {key!r} is {v!r}; expected a number") from None
        if v < minimum:
            raise ConfigError(f"{source}: field {key!r} is {v}; must be >= {minimum}")
        return v

    proposer = str(raw.get("proposer", "leader"))
    if proposer not in PROPOSERS:
        raise ConfigError(
            f"{source}: field 'proposer' is {proposer!r}; valid: {', '.join(PROPOSERS)}"
        )
    cfg = NodeConfig(
        id=node_id,
        region=region,
        mode=mode,
        listen_host=host,
        listen_port=port,
        peers=peers,
        members=list(members),
        homes={str(k): str(v) for k, v in homes.items()},
        failover_s=number("failover_s", None),
        replication_delay_s=number("replication_delay_s", 0.0) or 0.0,
        peer_timeout_s=number("peer_timeout_s", 1.0, 0.01) or 1.0,
        op_timeout_s=number("op_timeout_s", 3.0, 0.01) or 3.0,
        max_body=int(number("max_body", float(1 << 20), 16) or (1 << 20)),
        proposer=proposer,
        data_dir=str(raw["data_dir"]) if raw.get("data_dir") else None,
    )
    return cfg


def parse_args(argv: list[str] | None = None) -> NodeConfig:
    """CLI arguments override the JSON config file's fields."""
    ap = argparse.ArgumentParser(
        prog="python -m chaoskit.systems.geokv",
        description="Run one geokv node (JSON over HTTP/1.1).",
    )
    ap.add_argument("--config", help="JSON config file (fields as in docs/geokv.md)")
    ap.add_argument("--id")
    ap.add_argument("--region")
    ap.add_argument("--mode", choices=MODES)
    ap.add_argument("--listen", help="host:port to bind (port 0 = any free port)")
    ap.add_argument(
        "--peer",
        action="append",
        default=[],
        help="name=region@host:port, how THIS node reaches that node (repeat)",
    )
    ap.add_argument("--members", help="comma-separated current members (default: all peers)")
    ap.add_argument("--home", action="append", default=[], help="unit mode: key=region (repeat)")
    ap.add_argument("--failover-s", type=float)
    ap.add_argument("--replication-delay-s", type=float)
    ap.add_argument("--peer-timeout-s", type=float)
    ap.add_argument("--op-timeout-s", type=float)
    ap.add_argument("--max-body", type=int)
    ap.add_argument(
        "--data-dir", help="keep a journal of the node's state here (survives restarts)"
    )
    ap.add_argument("--proposer", choices=PROPOSERS, help="quorum: who runs a key's rounds")
    a = ap.parse_args(argv)
    raw: dict[str, Any] = {}
    source = "command line"
    if a.config:
        source = a.config
        try:
            with open(a.config, encoding="utf-8") as fh:
                raw = json.load(fh)
        except OSError as e:
            raise ConfigError(f"{a.config}: cannot read: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{a.config}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{a.config}: must hold a JSON object")
    for key in (
        "id",
        "region",
        "mode",
        "listen",
        "members",
        "failover_s",
        "replication_delay_s",
        "peer_timeout_s",
        "op_timeout_s",
        "max_body",
        "proposer",
        "data_dir",
    ):
        v = getattr(a, key)
        if v is not None:
            raw[key] = v
    if a.peer:
        peers = dict(raw.get("peers") or {})
        for text in a.peer:
            name, p = _parse_peer_arg(text)
            peers[name] = p
        raw["peers"] = peers
    if a.home:
        homes = dict(raw.get("homes") or {})
        for text in a.home:
            key, eq, region = text.partition("=")
            if not eq or not key or not region:
                raise ConfigError(f"--home: {text!r} is not key=region")
            homes[key] = region
        raw["homes"] = homes
    return from_dict(raw, source)
