"""The generic system block: its fields, checked with the path of every mistake.

system:
  kind: generic
  ports: [client, peer]              # named ports; every node gets one of each
  command: [my-server, --name, "{name}", --listen, "{listen.client}",
            --peers, "{peers.peer}", {each_peer: [--join, "{peer}={peer_addr.peer}"]}]
  image: my/image:1.0                # docker backend (default: chaoskit's node image)
  packages: [redis-server]           # extra Debian packages for chaoskit's node image
  env: {DATA: "{data_dir}"}
  peers: {separator: ",", format: "{addr}", self: true}
  ready: {tcp: client, deadline: 20s}          # or http: {port, path, status} / command
  client: {protocol: http, port: client, ...}  # chaoskit.clients protocol + its options
  roles: {command: [...], deadline: 5s}        # stdout names the node's role
  degrade: [...]                               # degrade-quorum, per node
  restore: [...]                               # restore-quorum, per node
  clock_skew: false                            # true: the program reads the clock via libc
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chaoskit.systems.base import unknown_names
from chaoskit.systems.generic import templates
from chaoskit.units import parse_duration

FIELDS = (
    "ports",
    "command",
    "image",
    "packages",
    "env",
    "peers",
    "ready",
    "client",
    "roles",
    "degrade",
    "restore",
    "clock_skew",
)
PORT_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
PROBES = ("tcp", "http", "command")
Path = tuple[str | int, ...]
Problems = list[tuple[Path, str]]


@dataclass
class Ready:
    kind: str  # tcp | http | command
    deadline_s: float
    port: str = ""
    path: str = "/"
    status: int = 200
    argv: list[str] = field(default_factory=list)


@dataclass
class GenericSpec:
    ports: list[str]
    command: list[Any]  # words, and {each_peer: [words]} items
    image: str | None
    packages: list[str]
    env: dict[str, str]
    peer_separator: str
    peer_format: str
    peer_self: bool
    ready: Ready
    client_protocol: str
    client_port: str
    client_options: dict[str, Any]
    client_failover: bool
    roles: list[str] | None
    roles_deadline_s: float
    degrade: list[str] | None
    restore: list[str] | None
    clock_skew: bool


def parse(options: dict[str, Any]) -> GenericSpec:
    """The spec of checked options (see `check`); raises ValueError on what check reports."""
    found = check(options)
    if found:
        path, msg = found[0]
        raise ValueError(f"system.{'.'.join(map(str, path))}: {msg}")
    ports = [str(p) for p in options.get("ports", ["client"])]
    peers = options.get("peers") or {}
    client = dict(options["client"])
    roles = options.get("roles") or {}
    return GenericSpec(
        ports=ports,
        command=list(options["command"]),
        image=options.get("image"),
        packages=list(options.get("packages") or []),
        env={str(k): str(v) for k, v in (options.get("env") or {}).items()},
        peer_separator=str(peers.get("separator", ",")),
        peer_format=str(peers.get("format", "{addr}")),
        peer_self=bool(peers.get("self", True)),
        ready=_ready(options.get("ready"), ports),
        client_protocol=str(client.pop("protocol")),
        client_port=str(client.pop("port", ports[0])),
        client_failover=bool(client.pop("failover", True)),
        client_options=client,
        roles=[str(w) for w in roles["command"]] if roles else None,
        roles_deadline_s=parse_duration(roles.get("deadline", "5s")) if roles else 5.0,
        degrade=[str(w) for w in options["degrade"]] if options.get("degrade") else None,
        restore=[str(w) for w in options["restore"]] if options.get("restore") else None,
        clock_skew=bool(options.get("clock_skew", False)),
    )


def _ready(raw: Any, ports: list[str]) -> Ready:
    if raw is None:
        return Ready("tcp", 30.0, port=ports[0])
    deadline = parse_duration(raw["deadline"])
    if "tcp" in raw:
        return Ready("tcp", deadline, port=str(raw["tcp"]))
    if "http" in raw:
        h = raw["http"]
        return Ready(
            "http",
            deadline,
            port=str(h.get("port", ports[0])),
            path=str(h.get("path", "/")),
            status=int(h.get("status", 200)),
        )
    return Ready("command", deadline, argv=[str(w) for w in raw["command"]])


# ---------------------------------------------------------------- checking


def check(options: dict[str, Any], workload: str | None = None) -> Problems:
    """Every mistake in the block: (path inside `system`, message naming what is valid)."""
    out: Problems = []
    out += [((k,), m) for k, m in unknown_names(options, FIELDS, "field of a generic system")]
    ports = _check_ports(options, out)
    if "command" not in options:
        out.append(
            (
                (),
                "a generic system needs `command`: the argv that starts one node, e.g. "
                "command: [my-server, --listen, '{listen.client}', --data, '{data_dir}']",
            )
        )
    else:
        _check_command(options["command"], ports, out)
    image = options.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        out.append((("image",), f"an image name (e.g. redis:7), got {image!r}"))
    _check_packages(options.get("packages"), out)
    env = options.get("env")
    if env is not None:
        if not isinstance(env, dict):
            out.append((("env",), "must map variable name -> value (a template)"))
        else:
            for k, v in env.items():
                if not isinstance(v, str | int | float) or isinstance(v, bool):
                    out.append((("env", k), f"a value is text; got {v!r}"))
                    continue
                for msg in templates.problems(str(v), "node", ports):
                    out.append((("env", k), msg))
    _check_peers(options.get("peers"), out)
    _check_ready(options.get("ready"), ports, out)
    _check_client(options.get("client"), ports, workload, out)
    _check_roles(options.get("roles"), ports, out)
    for name in ("degrade", "restore"):
        if name in options:
            _check_argv((name,), options[name], name, ports, out)
    if ("degrade" in options) != ("restore" in options):
        have, need = ("degrade", "restore") if "degrade" in options else ("restore", "degrade")
        out.append(((have,), f"{have} needs {need} too (degrade-quorum is healed by {need})"))
    cs = options.get("clock_skew", False)
    if not isinstance(cs, bool):
        out.append((("clock_skew",), f"true or false; got {cs!r}"))
    return out


def _check_ports(options: dict, out: Problems) -> list[str]:
    raw = options.get("ports", ["client"])
    if not isinstance(raw, list) or not raw:
        out.append((("ports",), f"a list of port names, e.g. [client, peer]; got {raw!r}"))
        return ["client"]
    ports: list[str] = []
    for i, p in enumerate(raw):
        if not isinstance(p, str) or not PORT_RE.match(p):
            out.append(
                (("ports", i), f"a port name is lower-case letters, digits, - or _; got {p!r}")
            )
        elif p in ports:
            out.append((("ports", i), f"port {p!r} is named twice"))
        else:
            ports.append(p)
    return ports or ["client"]


def _check_command(cmd: Any, ports: list[str], out: Problems) -> None:
    if isinstance(cmd, str):
        out.append(
            (
                ("command",),
                f"a shell string ({cmd!r}); give an argv list, one word per item, e.g. "
                "[redis-server, --port, '{port.client}'] (no shell runs it)",
            )
        )
        return
    if not isinstance(cmd, list) or not cmd:
        out.append((("command",), f"a non-empty argv list; got {cmd!r}"))
        return
    for i, word in enumerate(cmd):
        if isinstance(word, dict):
            if list(word) != ["each_peer"] or not isinstance(word["each_peer"], list):
                out.append(
                    (
                        ("command", i),
                        "a mapping item is {each_peer: [words]} (repeated once per peer)",
                    )
                )
                continue
            for j, w in enumerate(word["each_peer"]):
                _check_word(("command", i, "each_peer", j), w, "each_peer", ports, out)
        else:
            _check_word(("command", i), word, "node", ports, out)
    if isinstance(cmd[0], str) and " " in cmd[0].strip():
        out.append(
            (
                ("command", 0),
                f"{cmd[0]!r} looks like a shell command line; split it into argv words",
            )
        )


def _check_word(path: Path, word: Any, context: str, ports: list[str], out: Problems) -> None:
    if not isinstance(word, str | int | float) or isinstance(word, bool):
        out.append((path, f"argv words are text or numbers; got {word!r}"))
        return
    for msg in templates.problems(str(word), context, ports):
        out.append((path, msg))


def _check_argv(path: Path, argv: Any, context: str, ports: list[str], out: Problems) -> None:
    if isinstance(argv, str):
        out.append((path, f"a shell string ({argv!r}); give an argv list, one word per item"))
        return
    if not isinstance(argv, list) or not argv:
        out.append((path, f"a non-empty argv list; got {argv!r}"))
        return
    for i, word in enumerate(argv):
        _check_word((*path, i), word, context, ports, out)


def _check_packages(raw: Any, out: Problems) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        out.append((("packages",), f"a list of Debian package names; got {raw!r}"))
        return
    for i, p in enumerate(raw):
        if not isinstance(p, str) or not PACKAGE_RE.match(p):
            out.append((("packages", i), f"not a Debian package name: {p!r}"))


def _check_peers(raw: Any, out: Problems) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        out.append((("peers",), "a mapping {separator: ',', format: '{addr}', self: true}"))
        return
    out += [
        (("peers", k), m) for k, m in unknown_names(raw, ("separator", "format", "self"), "field")
    ]
    if not isinstance(raw.get("separator", ","), str):
        out.append((("peers", "separator"), "text, e.g. ',' or ' '"))
    fmt = raw.get("format", "{addr}")
    if not isinstance(fmt, str):
        out.append((("peers", "format"), "a template, e.g. '{peer}=http://{addr}'"))
    else:
        for msg in templates.problems(fmt, "peer_format", []):
            out.append((("peers", "format"), msg))
    if not isinstance(raw.get("self", True), bool):
        out.append((("peers", "self"), "true (every node, this one included) or false"))


def _duration(path: Path, raw: Any, out: Problems) -> None:
    try:
        if parse_duration(raw) <= 0:
            out.append((path, "must be > 0, e.g. 20s"))
    except ValueError as e:
        out.append((path, str(e)))


def _check_ready(raw: Any, ports: list[str], out: Problems) -> None:
    if raw is None:
        return
    path: Path = ("ready",)
    if not isinstance(raw, dict):
        out.append((path, "a mapping: one of tcp / http / command, and deadline"))
        return
    out += [((*path, k), m) for k, m in unknown_names(raw, (*PROBES, "deadline"), "field")]
    probes = [p for p in PROBES if p in raw]
    if len(probes) != 1:
        out.append(
            (
                path,
                f"exactly one probe of {', '.join(PROBES)}; got {', '.join(probes) or 'none'} "
                "(e.g. ready: {tcp: client, deadline: 20s})",
            )
        )
    if "deadline" not in raw:
        out.append((path, "a ready probe needs a deadline (how long a node may take), e.g. 20s"))
    else:
        _duration((*path, "deadline"), raw["deadline"], out)
    if "tcp" in raw and raw["tcp"] not in ports:
        out.append(((*path, "tcp"), f"unknown port name {raw['tcp']!r}; ports: {', '.join(ports)}"))
    if "http" in raw:
        h = raw["http"]
        if not isinstance(h, dict):
            out.append(((*path, "http"), "a mapping {port, path, status}"))
        else:
            out += [
                ((*path, "http", k), m)
                for k, m in unknown_names(h, ("port", "path", "status"), "field")
            ]
            if h.get("port", ports[0]) not in ports:
                out.append(
                    (
                        (*path, "http", "port"),
                        f"unknown port name {h.get('port')!r}; ports: {', '.join(ports)}",
                    )
                )
            if not str(h.get("path", "/")).startswith("/"):
                out.append(((*path, "http", "path"), "a path starting with '/', e.g. /health"))
            st = h.get("status", 200)
            if isinstance(st, bool) or not isinstance(st, int) or not 100 <= st <= 599:
                out.append(((*path, "http", "status"), f"an HTTP status, e.g. 200; got {st!r}"))
    if "command" in raw:
        _check_argv((*path, "command"), raw["command"], "harness", ports, out)


def _check_client(raw: Any, ports: list[str], workload: str | None, out: Problems) -> None:
    from chaoskit.clients import WORKLOAD_OPS, get_protocol, protocol_names

    path: Path = ("client",)
    if raw is None:
        out.append(
            (
                (),
                "a generic system needs `client`: how the load talks to it, e.g. "
                f"client: {{protocol: http, ...}} (protocols: {', '.join(protocol_names())})",
            )
        )
        return
    if not isinstance(raw, dict):
        out.append((path, "a mapping with protocol and its options"))
        return
    proto = raw.get("protocol")
    if proto not in protocol_names():
        out.append(
            (
                (*path, "protocol"),
                f"unknown client protocol {proto!r}; valid: {', '.join(protocol_names())}",
            )
        )
        return
    port = raw.get("port", ports[0])
    if port not in ports:
        out.append(((*path, "port"), f"unknown port name {port!r}; ports: {', '.join(ports)}"))
    failover = raw.get("failover", True)
    if not isinstance(failover, bool):
        out.append(((*path, "failover"), f"true or false; got {failover!r}"))
    options = {k: v for k, v in raw.items() if k not in ("protocol", "port", "failover")}
    try:
        cls = get_protocol(proto)
    except ImportError as e:
        out.append(((*path, "protocol"), str(e)))
        return
    for sub, msg in cls.check_options(options):
        parts = [int(p) if p.isdigit() else p for p in str(sub).split(".") if p]
        out.append(((*path, *parts), msg))
    if workload in WORKLOAD_OPS and isinstance(options, dict):
        if proto in ("http", "command"):
            missing = [op for op in WORKLOAD_OPS[workload] if op not in options]
            if missing:
                out.append(
                    (
                        path,
                        f"workload {workload} sends {', '.join(WORKLOAD_OPS[workload])}; "
                        f"describe {', '.join(missing)} too",
                    )
                )


def _check_roles(raw: Any, ports: list[str], out: Problems) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict) or "command" not in raw:
        out.append((("roles",), "a mapping {command: [argv], deadline: 5s}; stdout names the role"))
        return
    out += [
        (("roles", k), m) for k, m in unknown_names(raw, ("command", "names", "deadline"), "field")
    ]
    names = raw.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        out.append(
            (("roles", "names"), f"a list of role names, e.g. [voter, learner]; got {names!r}")
        )
    _check_argv(("roles", "command"), raw["command"], "harness", ports, out)
    if "deadline" in raw:
        _duration(("roles", "deadline"), raw["deadline"], out)
