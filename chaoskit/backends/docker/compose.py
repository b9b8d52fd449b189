"""A docker-compose file of an experiment's topology (`chaoskit compose`).

Same layout as `backend: docker` (docs/docker.md): one network per region with a
static subnet, one service per node (hostname = node name), and a `links` service
on every region network carrying the aliases of the nodes outside it. A one-shot
`links-init` service creates the links with their static latency through the
Toxiproxy API (/populate + latency toxics), reading `<stem>.links.json` written
next to the compose file. The file format is 2.4: Debian's docker-compose 1.29
accepts it, and it still has static IPs, IPAM gateways and `init`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from chaoskit.access import LINKS_TOKEN_ENV, new_token
from chaoskit.backends.docker import plan as dplan
from chaoskit.backends.docker.labels import labels, safe
from chaoskit.topology.model import AddressPlan, LinkSpec, Topology

DATA_DIR = "/data"


def link_config(plan: AddressPlan) -> dict[str, Any]:
    """What links-init sends: Toxiproxy /populate proxies, then latency toxics per proxy."""
    proxies = []
    toxics: dict[str, list[dict[str, Any]]] = {}
    spec: LinkSpec
    for spec in sorted(plan.links.values(), key=lambda s: s.name):
        proxies.append(
            {
                "name": spec.name,
                "listen": str(spec.listen),
                "upstream": str(spec.upstream),
                "enabled": True,
            }
        )
        one_way = spec.latency.one_way_ms
        jitter = spec.latency.jitter_ms / 2.0
        toxics[spec.name] = [
            {
                "name": f"latency_{stream}",
                "type": "latency",
                "stream": stream,
                "toxicity": 1.0,
                "attributes": {"latency": int(round(one_way)), "jitter": int(round(jitter))},
            }
            for stream in ("upstream", "downstream")
        ]
    return {"proxies": proxies, "toxics": toxics}


def compose_document(
    name: str,
    topology: Topology,
    adapter: Any,
    image: str,
    links_json_name: str,
    links_image: str | None = None,
    used_subnets: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(compose document, links config) for a topology run by `adapter`."""
    from chaoskit.systems.base import SystemContext

    ports = tuple(adapter.ports)
    subnets = dplan.pick_subnets(topology.region_names, used_subnets or [], name)
    lay = dplan.layout(topology, ports, subnets)
    plan = dplan.address_plan(topology, ports, lay)
    run = f"compose-{safe(name)}"
    ctx = SystemContext(
        topology=topology,
        plan=plan,
        backend=None,
        members=[n.name for n in topology.nodes],  # type: ignore[arg-type]
    )
    networks = {
        safe(r): {
            "driver": "bridge",
            "ipam": {"config": [{"subnet": net.subnet, "gateway": net.gateway}]},
            "labels": labels(run, "network") | {"chaoskit.region": r},
        }
        for r, net in lay.nets.items()
    }
    for net in networks.values():
        net["labels"].pop("chaoskit.pid", None)  # no harness owns a compose project
    services: dict[str, Any] = {}
    links_networks = {
        safe(r): {
            "ipv4_address": net.links_ip,
            "aliases": [n.name for n in topology.nodes if n.region != r] + [f"links-{r}"],
        }
        for r, net in lay.nets.items()
    }
    api = dplan.LINKS_API_PORT
    token = new_token()
    services["links"] = {
        "image": links_image or image,
        "command": (
            ["-host=0.0.0.0", f"-port={api}"]
            if links_image
            else [
                "python3",
                "-m",
                "chaoskit.links",
                "--host",
                "0.0.0.0",
                "--port",
                str(api),
            ]
        ),
        "hostname": "links",
        "init": True,
        # Bound beyond loopback (in its container): every request needs the token
        # (chaoskit.access); links-init gets it too. `chaoskit links status --token`.
        **({} if links_image else {"environment": {LINKS_TOKEN_ENV: token}}),
        "labels": _labels(run, "links"),
        "networks": links_networks,
        "ports": [f"127.0.0.1::{api}"],
    }
    first = safe(topology.region_names[0])
    services["links-init"] = {
        "image": image,
        "command": [
            "python3",
            "-m",
            "chaoskit.backends.docker.compose_init",
            "--api",
            f"http://{lay.nets[topology.region_names[0]].links_ip}:{api}",
            "--config",
            "/links.json",
        ],
        "init": True,
        **({} if links_image else {"environment": {LINKS_TOKEN_ENV: token}}),
        "depends_on": ["links"],
        "labels": _labels(run, "links-init"),
        "networks": [first],
        "volumes": [f"./{links_json_name}:/links.json:ro"],
        "restart": "on-failure",
    }
    for node in topology.nodes:
        spec = adapter.node_spec(node.name, ctx)
        env = {k: v.replace("{data_dir}", DATA_DIR) for k, v in spec.env.items()}
        svc: dict[str, Any] = {
            "image": image,
            "command": [a.replace("{data_dir}", DATA_DIR) for a in spec.argv],
            "hostname": node.name,
            "init": True,
            "labels": _labels(run, "node") | {"chaoskit.node": node.name},
            "networks": {
                safe(node.region): {"ipv4_address": lay.node_ip[node.name], "aliases": [node.name]}
            },
            "depends_on": ["links"],
        }
        if env:
            svc["environment"] = env
        services[safe(node.name)] = svc
    doc = {"version": "2.4", "services": services, "networks": networks}
    return doc, link_config(plan)


def used_subnets() -> list[str]:
    """Subnets of the existing docker networks (empty when no engine answers)."""
    try:
        from chaoskit.backends.docker.image import docker_client

        nets = docker_client().networks.list()
    except Exception:
        return []
    return [
        cfg["Subnet"]
        for n in nets
        for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []
        if cfg.get("Subnet") and ":" not in cfg["Subnet"]
    ]


def _labels(run: str, role: str) -> dict[str, str]:
    out = labels(run, role)
    out.pop("chaoskit.pid", None)
    return out


def write_compose(
    path: Path,
    name: str,
    topology: Topology,
    adapter: Any,
    image: str,
    links_image: str | None = None,
    used_subnets: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write the compose file and its `<stem>.links.json` (atomically); return both paths."""
    path = Path(path)
    links_path = path.with_name(f"{path.stem}.links.json")
    doc, links = compose_document(
        name, topology, adapter, image, links_path.name, links_image, used_subnets
    )
    header = (
        f"# chaoskit compose: topology of experiment {name!r}.\n"
        f"# Image: build it first with `chaoskit image build` ({image}).\n"
        f"# Start: docker-compose -f {path.name} up -d   (links-init applies the latencies)\n"
    )
    token = (doc["services"]["links"].get("environment") or {}).get(LINKS_TOKEN_ENV)
    if token:
        header += (
            f"# Link API (docker-compose port links {dplan.LINKS_API_PORT}): every request "
            f"needs its token: {LINKS_TOKEN_ENV}={token} chaoskit links status --api URL\n"
        )
    _atomic(links_path, json.dumps(links, indent=2) + "\n")
    _atomic(path, header + yaml.safe_dump(doc, sort_keys=False))
    return path, links_path


def _atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
