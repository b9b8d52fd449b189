"""Regions spread over several Docker engines (docs/docker.md, "Several engines").

`--engines us-east=unix:///run/a.sock,eu-west=tcp://10.0.0.2:2375` (or a YAML file
mapping region -> URL or {url, host}) puts each named region on its own engine;
regions not named stay on the default engine (DOCKER_HOST or the local socket).
An engine is a `unix://`, `tcp://` or `ssh://` URL, or a docker context name.

Each engine carries its regions' networks and nodes and its own links container,
attached to its regions' networks exactly as on one engine. A link lives on the
engine of its SOURCE region. A link towards a node on another engine goes out
through a published port: the destination engine's links container runs one
plain relay (no latency, no faults) per node port, `ingress:<node>:<port>`,
listening on 0.0.0.0:<node port + 10000> and published on a random host port;
the link's upstream is that engine's host at that port. So every inter-region
packet crosses exactly one link (its latency, its faults) on the source side.

Addresses of the engines' hosts: an engine given by tcp:// or ssh:// is reached
at its URL's host name (or `host` in the YAML file); engines on this machine
(unix://, or a context pointing at one) are reached at the gateway of the
source region's network, which is this machine.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from chaoskit.backends.docker import plan as dplan
from chaoskit.backends.docker.backend import DockerBackend, start_links_container
from chaoskit.backends.docker.labels import container_name, labels
from chaoskit.backends.teardown import TeardownReport
from chaoskit.topology.model import AddressPlan, Endpoint, LinkSpec, Topology

INGRESS_OFFSET = 10000  # relay port in a links container = node port + this
DEFAULT = "default"
SCHEMES = ("unix", "tcp", "ssh")


class EnginesError(ValueError):
    """A bad engine map; the message names what would be valid."""


@dataclass(frozen=True)
class EngineRef:
    url: str | None  # None: the default engine (DOCKER_HOST or the local socket)
    host: str | None = None  # where other engines reach its published ports; None: this machine

    @property
    def key(self) -> str:
        return self.url or DEFAULT


def resolve_engine(value: Any, where: str) -> EngineRef:
    host = None
    if isinstance(value, dict):
        unknown = set(value) - {"url", "host"}
        if unknown or "url" not in value:
            raise EnginesError(f"{where}: give {{url: URL, host: ADDRESS}} (host optional)")
        value, host = value["url"], value.get("host")
    url = str(value).strip()
    scheme = urlparse(url).scheme
    if not scheme:
        url = _context_url(url, where)
        scheme = urlparse(url).scheme
    if scheme not in SCHEMES:
        raise EnginesError(
            f"{where}: {url!r} is not a Docker engine: give unix:///path, tcp://HOST:PORT, "
            "ssh://USER@HOST or a docker context name"
        )
    if host is None and scheme in ("tcp", "ssh"):
        host = urlparse(url).hostname
    return EngineRef(url, host)


def _context_url(name: str, where: str) -> str:
    try:
        from docker.context import ContextAPI

        ctx = ContextAPI.get_context(name)
    except Exception as e:  # the SDK raises several kinds for a broken context store
        raise EnginesError(f"{where}: docker context {name!r} cannot be read: {e}") from None
    if ctx is None:
        raise EnginesError(
            f"{where}: {name!r} is neither a URL (unix://, tcp://, ssh://) nor a docker context "
            "(`docker context ls`)"
        )
    return str(ctx.Host)


def parse_engines(text: str, regions: list[str]) -> dict[str, EngineRef]:
    """`region=URL,...` or a YAML file (region -> URL | {url, host}) -> region -> EngineRef.

    Raises EnginesError naming the problem and what is valid."""
    path = Path(text)
    if "=" not in text and path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise EnginesError(f"{path}: not YAML: {e}") from None
        if not isinstance(raw, dict):
            raise EnginesError(f"{path}: expected a mapping region -> engine URL")
        items = [(str(k), v, f"{path}: {k}") for k, v in raw.items()]
    else:
        items = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            region, sep, url = part.partition("=")
            if not sep or not region or not url:
                raise EnginesError(f"--engines: {part!r}: expected REGION=URL (or a YAML file)")
            items.append((region, url, f"--engines {region}"))
    out: dict[str, EngineRef] = {}
    for region, value, where in items:
        if region not in regions:
            raise EnginesError(
                f"{where}: no region {region!r} in the topology; regions: {', '.join(regions)} "
                "(engines are given per region: the docker backend has one network per region)"
            )
        out[region] = resolve_engine(value, where)
    local = {e.key for e in out.values() if e.host is None}
    if set(regions) - set(out):
        local.add(f"{DEFAULT} (regions {', '.join(r for r in regions if r not in out)})")
    remote = {e.key for e in out.values() if e.host is not None}
    if remote and local:
        raise EnginesError(
            "--engines: engines on other hosts reach this machine's engines only at an address: "
            f"give `host` for {', '.join(sorted(local))} in an engines YAML file "
            "(region: {url: ..., host: ADDRESS}), mapping every region"
        )
    return out


def engine_client(url: str) -> Any:
    """A docker client for an engine URL, checked with a ping (EnginesError if it does not answer)."""
    import docker

    try:
        client = docker.DockerClient(
            base_url=url, timeout=120, use_ssh_client=url.startswith("ssh://")
        )
        client.ping()
    except Exception as e:
        raise EnginesError(f"the Docker engine at {url} does not answer: {e}") from None
    return client


def ingress_port(port: int) -> int:
    return port + INGRESS_OFFSET


class MultiEngineBackend(DockerBackend):
    """The docker backend with each region on the engine `engines` names (default: the
    default engine). Faults, clock skew, kills and teardown act on the node's engine.
    Region links only: nodes of one region reach each other directly."""

    node_links = False

    def __init__(self, *args: Any, engines: dict[str, EngineRef], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engines = dict(engines)
        self._clients: dict[str, Any] = {}
        self._links_by_engine: dict[str, Any] = {}
        self._api_urls: dict[str, str] = {}

    # -- engines ------------------------------------------------------------------

    def engine_of(self, region: str) -> EngineRef:
        return self.engines.get(region, EngineRef(None))

    def _engine_client(self, ref: EngineRef) -> Any:
        if ref.url is None:
            return self.client
        if ref.key not in self._clients:
            self._clients[ref.key] = engine_client(ref.url)
        return self._clients[ref.key]

    def client_for(self, region: str) -> Any:
        return self._engine_client(self.engine_of(region))

    def engine_refs(self) -> dict[str, EngineRef]:
        """Every engine this backend uses (by key), the default one first."""
        assert self._topology is not None
        refs = {DEFAULT: EngineRef(None)} if self._uses_default() else {}
        for r in self._topology.region_names:
            ref = self.engine_of(r)
            refs.setdefault(ref.key, ref)
        return refs

    def _watched_engines(self) -> list[tuple[str | None, Any]]:
        if self._topology is None:
            return []
        return [(ref.url, self._links_by_engine.get(k)) for k, ref in self.engine_refs().items()]

    def _uses_default(self) -> bool:
        assert self._topology is not None
        return any(self.engine_of(r).url is None for r in self._topology.region_names)

    def _regions_of(self, key: str) -> list[str]:
        assert self._topology is not None
        return [r for r in self._topology.region_names if self.engine_of(r).key == key]

    def _used_subnets(self) -> list[str]:
        """Subnets of every engine's networks: engines on one machine share its routes."""
        used: list[str] = []
        for ref in self.engine_refs().values():
            with contextlib.suppress(Exception):
                for n in self._engine_client(ref).networks.list():
                    for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []:
                        if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                            used.append(cfg["Subnet"])
        return used

    def plan(self, topology: Topology, ports: tuple[str, ...]) -> AddressPlan:
        self._topology = topology
        return super().plan(topology, ports)

    # -- up -----------------------------------------------------------------------

    def _ensure_images(self) -> None:
        """The node image (and a Toxiproxy links image) on every engine: built on the
        default one, copied to the others that lack it."""
        if self.image is None:
            from chaoskit.backends.docker.image import ensure_image

            self.image = ensure_image(log=self._log).tag
        for ref in self.engine_refs().values():
            for tag in filter(None, (self.image, self.links_image)):
                self._copy_image(tag, self._engine_client(ref))

    def _copy_image(self, tag: str, client: Any) -> None:
        """`docker save TAG | docker load` from the default engine, when `client` lacks it."""
        import docker.errors

        if client is self.client:
            return
        try:
            client.images.get(tag)
            return
        except docker.errors.ImageNotFound:
            pass
        self._log(f"copying {tag} to another Docker engine")
        client.images.load(self.client.images.get(tag).save(named=True))

    def start_node(self, node: str, spec: Any) -> None:
        # A system's own image is built on the default engine: the node's engine needs it too.
        self._copy_image(self._image_for(spec), self.client_for(self._node_region(node)))
        super().start_node(node, spec)

    def up(self, topology: Topology, plan: AddressPlan) -> str:
        import atexit

        lay = self.layout
        self._down = False
        atexit.register(self._down_at_exit)
        self._ensure_images()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._create_region_networks()
        image, command = self._links_image_command()
        ingress: dict[
            tuple[str, str], tuple[str, int]
        ] = {}  # (node, port) -> (engine key, host port)
        for key, ref in self.engine_refs().items():
            regions = self._regions_of(key)
            nodes = [n for n in topology.nodes if n.region in regions]
            container_ports = [dplan.LINKS_API_PORT] + [
                ingress_port(lay.ports[n.name][p]) for n in nodes for p in plan.ports
            ]
            networks = [
                (
                    _net(self.short, r),
                    lay.nets[r].links_ip,
                    [n.name for n in topology.nodes if n.region != r] + [f"links-{r}"],
                )
                for r in regions
            ]
            try:
                links = self._start_links(key, ref, image, command, networks, container_ports)
            except Exception:
                self.down()
                raise
            self._links_by_engine[key] = links
            bound = links.attrs["NetworkSettings"]["Ports"]
            api_port = bound[f"{dplan.LINKS_API_PORT}/tcp"][0]["HostPort"]
            self._api_urls[key] = f"http://{ref.host or '127.0.0.1'}:{api_port}"
            for n in nodes:
                for p in plan.ports:
                    b = bound[f"{ingress_port(lay.ports[n.name][p])}/tcp"][0]
                    ingress[(n.name, p)] = (key, int(b["HostPort"]))
        self._links = next(iter(self._links_by_engine.values()))
        self._api_url = next(iter(self._api_urls.values()))
        for key in self._links_by_engine:
            self._links, self._api_url = self._links_by_engine[key], self._api_urls[key]
            self._wait_links_api()
        self._links = next(iter(self._links_by_engine.values()))
        self._api_url = next(iter(self._api_urls.values()))
        self._build_relays(topology, plan)
        self._route_across_engines(plan, ingress)
        return self._api_url

    def _start_links(
        self,
        key: str,
        ref: EngineRef,
        image: str,
        command: list[str],
        networks: list[tuple[str, str, list[str]]],
        container_ports: list[int],
        attempts: int = 4,
    ) -> Any:
        """The engine's links container. Engines on this machine get host ports chosen
        here (each engine's allocator knows only its own ports, so two engines would
        hand out the same one); a port taken meanwhile is retried with fresh ones."""
        import docker.errors

        client = self._engine_client(ref)
        name = container_name(self.short, f"links-{_safe_key(key)}")
        for attempt in range(attempts):
            publish: dict[int, tuple[str, int | None]] = {}
            for port in container_ports:
                local = ref.host is None
                api = port == dplan.LINKS_API_PORT
                bind = "127.0.0.1" if (api and local) else "0.0.0.0"
                publish[port] = (bind, _free_host_port() if local else None)
            try:
                return start_links_container(
                    client,
                    image,
                    command,
                    name=name,
                    labels=labels(self.run_id, "links"),
                    networks=networks,
                    publish=publish,
                    environment=self.links_environment(),
                )
            except docker.errors.APIError as e:
                if "address already in use" not in str(e) or attempt == attempts - 1:
                    raise
                with contextlib.suppress(Exception):
                    client.containers.get(name).remove(force=True)
        raise AssertionError("unreachable")

    def _build_relays(self, topology: Topology, plan: AddressPlan) -> None:
        """On every engine, one plain relay per node port: ingress:<node>:<port>."""
        from chaoskit.links.control import LinkControl
        from chaoskit.topology.model import Latency

        lay = self.layout
        for key, url in self._api_urls.items():
            relays: dict[tuple[str, str, str], LinkSpec] = {}
            for n in topology.nodes:
                if self.engine_of(n.region).key != key:
                    continue
                for p in plan.ports:
                    port = lay.ports[n.name][p]
                    relays[("ingress", n.name, p)] = LinkSpec(
                        name=f"ingress:{n.name}:{p}",
                        source_region="ingress",
                        dest_node=n.name,
                        dest_region=n.region,
                        port=p,
                        listen=Endpoint("0.0.0.0", ingress_port(port)),
                        upstream=Endpoint(lay.node_ip[n.name], port),
                        latency=Latency(0.0),
                    )
            with LinkControl(url, token=self.links_token) as lc:
                lc.wait_ready(10.0)
                lc.build(AddressPlan(plan.ports, {}, relays, {}, {}))

    def _route_across_engines(
        self, plan: AddressPlan, ingress: dict[tuple[str, str], tuple[str, int]]
    ) -> None:
        """Point each link whose destination is on another engine at that engine's relay."""
        for k, spec in list(plan.links.items()):
            src, dst = self.engine_of(spec.source_region), self.engine_of(spec.dest_region)
            if src.key == dst.key:
                continue
            _, host_port = ingress[(spec.dest_node, spec.port)]
            host = dst.host or self.layout.nets[spec.source_region].gateway
            plan.links[k] = replace(spec, upstream=Endpoint(host, host_port))

    def link_control(self, api_url: str) -> Any:
        """The links of every engine behind one handle (links route by source region)."""
        from chaoskit.links.control import LinkControl
        from chaoskit.links.multi import MultiLinkControl

        assert self._topology is not None
        regions = set(self._topology.region_names)

        def route(name: str) -> str:
            source = name.split("->", 1)[0]
            if source not in regions:
                raise KeyError(name)
            return self.engine_of(source).key

        return MultiLinkControl(
            {k: LinkControl(u, token=self.links_token) for k, u in self._api_urls.items()}, route
        )

    @property
    def api_urls(self) -> dict[str, str]:
        return dict(self._api_urls)

    # -- logs and teardown -----------------------------------------------------------

    def links_log(self) -> Path:
        path = self.logs_dir.parent / "links.log"
        parts = []
        for key, c in self._links_by_engine.items():
            with contextlib.suppress(Exception):
                parts.append(f"=== links container on engine {key}\n".encode() + c.logs())
        if parts:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\n".join(parts))
        return path

    def other_engine_clients(self) -> list[Any]:
        return list(self._clients.values())

    def down(self) -> TeardownReport:
        report = super().down()
        self._links_by_engine.clear()
        return report


def _free_host_port() -> int:
    """A port free on every address of this machine right now (the OS picks it)."""
    import socket

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def _safe_key(key: str) -> str:
    import zlib

    return "default" if key == DEFAULT else f"{zlib.crc32(key.encode()):08x}"


def _net(short: str, region: str) -> str:
    from chaoskit.backends.docker.labels import network_name

    return network_name(short, region)
