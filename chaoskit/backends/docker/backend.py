"""`backend: docker`: one bridge network per region, one container per node, one
links container on every region network (docs/docker.md).

Every resource is labelled `chaoskit=1` and `chaoskit.run=<run id>`; `down()`
removes exactly the run's own, each step within a deadline, and reports what it
removed and what it could not (also registered with atexit, so an interrupted run
cleans up), and `chaoskit clean` removes any leftovers of any run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import requests

from chaoskit.access import LINKS_TOKEN_ENV, TOKEN_HEADER, new_token
from chaoskit.backends.base import Backend, NodeSpec, NodeStatus
from chaoskit.backends.clockrate import REAL_TIME, drift_spec
from chaoskit.backends.diskfault import diskfault_env, shim_path
from chaoskit.backends.docker import plan as dplan
from chaoskit.backends.docker import resources
from chaoskit.backends.docker.labels import (
    container_name,
    labels,
    network_name,
    safe,
)
from chaoskit.backends.docker.teardown import Deadlines, teardown_run
from chaoskit.backends.teardown import Teardown, TeardownReport
from chaoskit.topology.model import AddressPlan, Topology
from chaoskit.units import format_offset

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CLOCK_DIR = "/chaoskit-clock"  # bind-mounted per node; holds the libfaketime offset file
DISK_DIR = "/chaoskit-disk"  # bind-mounted per node; holds the disk-fault control file
DISK_SHIM = "/chaoskit-diskfault.so"  # the disk-fault shim, built on the host
DATA_DIR = "/data"  # bind-mounted per node; NodeSpec's {data_dir}


def short_run_id(run_id: str) -> str:
    """A short, docker-safe form of a run id for resource names (labels keep the full id)."""
    s = safe(run_id)
    if len(s) <= 20:
        return s
    return f"{s[:12]}-{zlib.crc32(run_id.encode()):08x}"


class DockerBackend(Backend):
    name = "docker"
    # Node links: every node reaches every peer through its own link (docs/docker.md),
    # so zones and single nodes can be cut as on the local backend.
    node_links = True

    def __init__(
        self,
        run_dir: Path | str | None = None,
        run_id: str | None = None,
        logs_dir: Path | str | None = None,
        image: str | None = None,
        links_image: str | None = None,
        links_command: list[str] | None = None,
        workdir: Path | str | None = None,
        log: Any = None,
    ) -> None:
        """`image`: node image tag (default: `chaoskit image build`'s, built if missing).
        `links_image`: a real Toxiproxy image for the links container (default: the
        node image running chaoskit's built-in link server). `logs_dir`: where node
        logs (`<node>.log`) are collected (default: `run_dir/logs`, or inside workdir,
        removed by down(), without a run_dir); `links.log` goes next to `logs/`.
        Node data directories and clock files live in a temporary workdir."""
        self.run_id = run_id or uuid.uuid4().hex[:10]
        self.short = short_run_id(self.run_id)
        self.image = image
        self.links_image = links_image
        self.links_command = links_command
        self._log = log or (lambda msg: None)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"chaoskit-docker-{self.short}-"))
        self.run_dir = Path(run_dir) if run_dir else None
        if logs_dir:
            self.logs_dir = Path(logs_dir)
        elif self.run_dir:
            self.logs_dir = self.run_dir / "logs"
        else:
            self.logs_dir = self.workdir / "logs"
        self.hurry = False  # set by the engine on a second Ctrl-C: no grace periods
        # The built-in link server listens on every interface of its container: every
        # request needs this token (chaoskit.access). A real Toxiproxy has none.
        self.links_token: str | None = None if links_image else new_token()
        self._client: Any = None
        self._topology: Topology | None = None
        self._layout: dplan.DockerLayout | None = None
        self._plan: AddressPlan | None = None
        self._containers: dict[str, Any] = {}  # node -> container (current incarnation)
        self._faketime: dict[str, bool] = {}
        self._offsets: dict[str, float | None] = {}
        self._old_logs: dict[str, bytes] = {}  # node -> logs of removed incarnations
        self._links: Any = None
        self._probes: dict[str, Any] = {}  # engine URL -> short-timeout client (engine_problem)
        self._api_url: str | None = None
        self._down = False
        self._report: TeardownReport | None = None
        self.deadlines = Deadlines()
        self._lock = threading.RLock()

    # -- docker plumbing -------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            from chaoskit.backends.docker.image import docker_client

            self._client = docker_client()
        return self._client

    def _used_subnets(self) -> list[str]:
        try:
            nets = self.client.networks.list()
        except Exception:
            return []
        used = []
        for n in nets:
            for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                    used.append(cfg["Subnet"])
        return used

    # -- Backend contract --------------------------------------------------------

    def plan(self, topology: Topology, ports: tuple[str, ...]) -> AddressPlan:
        subnets = dplan.pick_subnets(topology.region_names, self._used_subnets(), self.run_id)
        self._topology = topology
        self._layout = dplan.layout(topology, tuple(ports), subnets)
        self._plan = dplan.address_plan(
            topology, tuple(ports), self._layout, node_links=self.node_links
        )
        return self._plan

    @property
    def layout(self) -> dplan.DockerLayout:
        if self._layout is None:
            raise RuntimeError("DockerBackend.plan() must be called before up()")
        return self._layout

    def up(self, topology: Topology, plan: AddressPlan) -> str:
        lay = self.layout
        self._down = False
        self._report = None
        atexit.register(self._down_at_exit)
        if self.image is None:
            from chaoskit.backends.docker.image import ensure_image

            self.image = ensure_image(log=self._log).tag
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._create_region_networks()
        # The links container: on region R's network it carries the aliases of every
        # node outside R, so those names resolve to R's links towards them.
        regions = list(lay.nets)
        aliases = {
            r: [n.name for n in topology.nodes if n.region != r] + [f"links-{r}"] for r in regions
        }
        image, command = self._links_image_command()
        self._links = start_links_container(
            self.client,
            image,
            command,
            name=container_name(self.short, "links"),
            labels=labels(self.run_id, "links"),
            networks=[
                (network_name(self.short, r), lay.nets[r].links_ip, aliases[r]) for r in regions
            ],
            publish={dplan.LINKS_API_PORT: ("127.0.0.1", None)},
            environment=self.links_environment(),
        )
        if self.node_links:
            self._add_source_ips(topology)
        self._links.reload()
        binding = self._links.attrs["NetworkSettings"]["Ports"][f"{dplan.LINKS_API_PORT}/tcp"][0]
        self._api_url = f"http://127.0.0.1:{binding['HostPort']}"
        self._wait_links_api()
        return self._api_url

    def _add_source_ips(self, topology: Topology) -> None:
        """Give the links container every node's source IP (dplan.DockerLayout.source_ip),
        on the interface of the node's region network. A short-lived container in the
        links container's network namespace does it, so any links image works."""
        lay = self.layout
        steps = []
        for n in topology.nodes:
            links_ip, ip = lay.nets[n.region].links_ip, lay.source_ip[n.name]
            steps.append(
                f"dev=$(ip -o -4 addr show | awk '$4 ~ /^{links_ip}\\//{{print $2}}'); "
                f'[ -n "$dev" ] || {{ echo "no interface has {links_ip}" >&2; exit 1; }}; '
                f'ip addr add {ip}/32 dev "$dev"'
            )
        try:
            self.client.containers.run(
                str(self.image),
                ["sh", "-ec", "\n".join(steps)],
                network_mode=f"container:{self._links.id}",
                cap_add=["NET_ADMIN"],
                labels=labels(self.run_id, "links-setup"),
                remove=True,
            )
        except Exception as e:
            self.down()
            raise RuntimeError(f"cannot give the links container the node source IPs: {e}") from e

    def _create_region_networks(self) -> None:
        """One bridge network per region, on the engine that carries it."""
        from docker.types import IPAMConfig, IPAMPool

        for region, net in self.layout.nets.items():
            try:
                self.client_for(region).networks.create(
                    network_name(self.short, region),
                    driver="bridge",
                    ipam=IPAMConfig(
                        pool_configs=[IPAMPool(subnet=net.subnet, gateway=net.gateway)]
                    ),
                    labels=labels(self.run_id, "network") | {"chaoskit.region": region},
                    check_duplicate=True,
                )
            except Exception as e:
                self.down()
                raise RuntimeError(
                    f"cannot create the docker network of region {region!r} ({net.subnet}): {e}; "
                    "leftovers of an earlier run? try `chaoskit clean`"
                ) from e

    def _links_image_command(self) -> tuple[str, list[str]]:
        """The links container's image and command (built-in link server, or Toxiproxy)."""
        if self.links_image:
            return self.links_image, ["-host=0.0.0.0", f"-port={dplan.LINKS_API_PORT}"]
        if self.links_command:
            return str(self.image), list(self.links_command)
        return str(self.image), [
            "python3",
            "-m",
            "chaoskit.links",
            "--host",
            "0.0.0.0",
            "--port",
            str(dplan.LINKS_API_PORT),
        ]

    def links_environment(self) -> dict[str, str]:
        """The links container's environment: the token its API requires."""
        return {LINKS_TOKEN_ENV: self.links_token} if self.links_token else {}

    def _wait_links_api(self, deadline_s: float = 30.0) -> None:
        end = time.monotonic() + deadline_s
        last: Exception | None = None
        while time.monotonic() < end:
            try:
                headers = {TOKEN_HEADER: self.links_token} if self.links_token else {}
                if requests.get(f"{self._api_url}/version", headers=headers, timeout=2).ok:
                    return
            except requests.RequestException as e:
                last = e
            self._links.reload()
            if self._links.status not in ("created", "running"):
                break
            time.sleep(0.2)
        logs = self._links.logs(tail=20).decode(errors="replace")
        raise RuntimeError(
            f"the links container did not answer on {self._api_url} ({last}); its log:\n{logs}"
        )

    @property
    def api_url(self) -> str | None:
        return self._api_url

    def links_ip(self, region: str) -> str:
        return self.layout.nets[region].links_ip

    def node_ip(self, node: str) -> str:
        return self.layout.node_ip[node]

    def _node_region(self, node: str) -> str:
        assert self._topology is not None
        return self._topology.node(node).region

    def start_node(self, node: str, spec: NodeSpec) -> None:
        with self._lock:
            self._remove_node_container(node)
            lay = self.layout
            region = self._node_region(node)
            data = self.host_data_dir(node)
            self.prepare_data_dir(data, spec.clean_data)
            binds = {str(data): {"bind": DATA_DIR, "mode": "rw"}}
            env = {k: v.replace("{data_dir}", DATA_DIR) for k, v in spec.env.items()}
            argv = [a.replace("{data_dir}", DATA_DIR) for a in spec.argv]
            self._faketime[node] = spec.faketime
            if spec.faketime:
                clock = self.workdir / "clock" / safe(node)
                clock.mkdir(parents=True, exist_ok=True)
                self._write_offset(node, self._offsets.get(node))
                binds[str(clock)] = {"bind": CLOCK_DIR, "mode": "ro"}
                env |= {
                    "LD_PRELOAD": FAKETIME_LIB,
                    "FAKETIME_TIMESTAMP_FILE": f"{CLOCK_DIR}/offset",
                    # Re-read the file on every clock call: offsets change live.
                    "FAKETIME_NO_CACHE": "1",
                }
            if self.disk_faults:
                disk = self.workdir / "disk" / safe(node)
                disk.mkdir(parents=True, exist_ok=True)
                binds[str(disk)] = {"bind": DISK_DIR, "mode": "ro"}
                binds[str(shim_path())] = {"bind": DISK_SHIM, "mode": "ro"}
                env |= diskfault_env(
                    env.get("LD_PRELOAD", ""), f"{DISK_DIR}/ctl", DATA_DIR, DISK_SHIM
                )
            client = self.client_for(region)
            api = client.api
            net = network_name(self.short, region)
            image = self._image_for(spec)
            # The node's log says what ran (as the local backend's does).
            header = f"--- chaoskit: starting {node} from image {image}: {json.dumps(argv)}\n"
            self._old_logs[node] = self._old_logs.get(node, b"") + header.encode()
            cid = api.create_container(
                image,
                command=argv,
                name=container_name(self.short, node),
                hostname=node,
                environment=env,
                labels=labels(self.run_id, "node", node),
                host_config=api.create_host_config(
                    network_mode=net, init=True, binds=binds, extra_hosts=self._extra_hosts(node)
                ),
                networking_config=api.create_networking_config(
                    {
                        net: api.create_endpoint_config(
                            ipv4_address=lay.node_ip[node], aliases=[node]
                        )
                    }
                ),
            )["Id"]
            api.start(cid)
            self._containers[node] = client.containers.get(cid)

    def _extra_hosts(self, node: str) -> dict[str, str] | None:
        """With node links, the node's /etc/hosts sends every peer name to its own links."""
        if not self.node_links or self._topology is None:
            return None
        return dplan.node_hosts(self._topology, self.layout, node)

    def host_data_dir(self, node: str) -> Path:
        return self.workdir / "data" / safe(node)

    def client_for(self, region: str) -> Any:
        """The engine that carries `region` (one engine here; several in MultiEngineBackend)."""
        return self.client

    def _image_for(self, spec: NodeSpec) -> str:
        """The system's own image (NodeSpec.image / packages), else the node image."""
        if spec.image is None and not spec.packages:
            return self.image
        from chaoskit.backends.docker.system_image import system_image

        return system_image(spec.image, spec.packages, log=self._log)

    def _container(self, node: str) -> Any:
        c = self._containers.get(node)
        if c is None:
            raise KeyError(f"node {node!r} has not been started by this docker backend")
        return c

    def _remove_node_container(self, node: str) -> None:
        c = self._containers.pop(node, None)
        if c is None:
            return
        with contextlib.suppress(Exception):
            self._old_logs[node] = self._old_logs.get(node, b"") + c.logs()
        with contextlib.suppress(Exception):
            c.remove(force=True)

    def stop_node(self, node: str, grace_s: float = 5.0) -> None:
        # docker stop = SIGTERM, then SIGKILL after the grace (etcd may ignore SIGTERM).
        with contextlib.suppress(Exception):
            self._container(node).stop(timeout=0 if self.hurry else max(0, int(round(grace_s))))

    def kill_node(self, node: str) -> None:
        c = self._container(node)
        with contextlib.suppress(Exception):
            c.kill()

    def pause_node(self, node: str) -> None:
        self._container(node).pause()

    def resume_node(self, node: str) -> None:
        c = self._container(node)
        c.reload()
        if c.status == "paused":
            c.unpause()

    def is_running(self, node: str) -> bool:
        c = self._containers.get(node)
        if c is None:
            return False
        try:
            c.reload()
        except Exception:
            return False
        return c.status in ("running", "paused")

    def _watched_engines(self) -> list[tuple[str | None, Any]]:
        """(engine URL, None for the default; the run's links container there) per engine."""
        return [(None, self._links)]

    def _probe_client(self, url: str | None) -> Any:
        """A client with a short timeout, for health probes (the run's own waits 120 s)."""
        import docker

        key = url or ""
        if key not in self._probes:
            self._probes[key] = (
                docker.from_env(timeout=3)
                if url is None
                else docker.DockerClient(
                    base_url=url, timeout=3, use_ssh_client=url.startswith("ssh://")
                )
            )
        return self._probes[key]

    def engine_problem(self) -> tuple[str, str] | None:
        for url, links in self._watched_engines():
            name = url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            try:
                client = self._probe_client(url)
                client.ping()
                c = client.containers.get(links.id) if links is not None else None
            except Exception as e:  # noqa: BLE001 - any failure to answer is the finding
                if type(e).__name__ == "NotFound":
                    return (
                        "stopped",
                        f"the Docker engine at {name} no longer has the run's links container",
                    )
                return (
                    "unreachable",
                    f"the Docker engine at {name} does not answer ({type(e).__name__})",
                )
            if c is not None and c.status != "running":
                code = (c.attrs.get("State") or {}).get("ExitCode")
                return "stopped", (
                    f"the Docker engine at {name} stopped the run's containers (links container "
                    f"{c.status}, exit code {code}; is the engine stopping or restarting?)"
                )
        return None

    def node_status(self, node: str) -> NodeStatus | None:
        c = self._containers.get(node)
        if c is None:
            return NodeStatus(False)
        try:
            c.reload()
        except Exception as e:  # noqa: BLE001 - gone or engine down: tell which
            if type(e).__name__ == "NotFound":
                return NodeStatus(False, detail="its container was removed")
            return None
        state = c.attrs.get("State") or {}
        if c.status in ("running", "paused", "restarting"):
            return NodeStatus(True)
        code = state.get("ExitCode")
        sig = None
        if isinstance(code, int) and code > 128:
            with contextlib.suppress(ValueError):
                sig = signal.Signals(code - 128).name
        detail = "; ".join(
            x
            for x in (
                "OOM-killed" if state.get("OOMKilled") else "",
                str(state.get("Error") or ""),
            )
            if x
        )
        return NodeStatus(False, exit_code=code, signal=sig, detail=detail)

    def _write_offset(self, node: str, offset_ms: float | None, spec: str | None = None) -> None:
        clock = self.workdir / "clock" / safe(node)
        clock.mkdir(parents=True, exist_ok=True)
        tmp = clock / ".offset.tmp"
        tmp.write_text((spec or format_offset(offset_ms)) + "\n")
        # A rename inside the bind-mounted directory: the container sees the new file.
        os.replace(tmp, clock / "offset")

    def set_clock_offset(self, node: str, offset_ms: float | None) -> None:
        self._offsets[node] = offset_ms
        if self._faketime.get(node):
            self._write_offset(node, offset_ms)
        elif offset_ms:
            raise RuntimeError(
                f"node {node!r} was not started under libfaketime (NodeSpec.faketime); "
                "its clock cannot be skewed"
            )

    def set_clock_rate(self, node: str, offset_ms: float, rate: float) -> None:
        """From now on the node's clock reads real time + offset_ms and runs at `rate`
        (see chaoskit.backends.clockrate; the container's main process sets the pace)."""
        if not self._faketime.get(node):
            raise RuntimeError(f"node {node!r} was not started under libfaketime")
        c = self._container(node)
        c.reload()
        pid = int(c.attrs["State"]["Pid"])
        spec = REAL_TIME if rate == 1.0 and not offset_ms else drift_spec(pid, offset_ms, rate)
        self._write_offset(node, None, spec)

    def set_disk_fault(self, node: str, control: str | None) -> None:
        """Switch the node's disk-fault shim (chaoskit.backends.diskfault)."""
        if not self.disk_faults:
            raise RuntimeError("this backend was not started with disk_faults = True")
        disk = self.workdir / "disk" / safe(node)
        disk.mkdir(parents=True, exist_ok=True)
        if control is None:
            (disk / "ctl").unlink(missing_ok=True)
            return
        tmp = disk / ".ctl.tmp"
        tmp.write_text(control)
        os.replace(tmp, disk / "ctl")  # a rename in the bind-mounted directory

    # -- resource faults (chaoskit.backends.docker.resources) --
    def limit_resources(
        self, node: str, cpus: float | None = None, memory_mb: float | None = None
    ) -> dict[str, int]:
        """CPU (cores) and memory (MiB) limits on the node's container; returns the old ones."""
        return resources.limit(self._container(node), cpus=cpus, memory_mb=memory_mb)

    def restore_resources(self, node: str, before: dict[str, int]) -> None:
        resources.restore(self._container(node), before)

    def start_hog(self, node: str, kind: str, workers: int) -> int:
        """A CPU- or I/O-hungry stress-ng neighbour inside the node's container."""
        return resources.start_hog(self._container(node), kind, workers)

    def stop_hog(self, node: str, pid: int) -> None:
        resources.stop_hog(self._container(node), pid)

    def exec(self, node: str, argv: list[str], timeout_s: float = 30.0) -> tuple[int, str]:
        """Run a command inside a node's container (or "links"); returns (exit code, output)."""
        c = self._links if node == "links" else self._container(node)
        res = c.exec_run(["timeout", str(int(timeout_s)), *argv])
        return res.exit_code, res.output.decode(errors="replace")

    def node_log(self, node: str) -> Path:
        path = self.logs_dir / f"{safe(node)}.log"
        data = self._old_logs.get(node, b"")
        c = self._containers.get(node)
        if c is not None:
            with contextlib.suppress(Exception):
                data += c.logs()
        _atomic_write(path, data)
        return path

    def links_log(self) -> Path:
        path = self.logs_dir.parent / "links.log"
        if self._links is not None:
            with contextlib.suppress(Exception):
                _atomic_write(path, self._links.logs())
        return path

    def down(self) -> TeardownReport:
        """Collect the logs, then remove every container, network and volume of the run,
        each step within its deadline (chaoskit.backends.teardown); the report names
        what was removed and anything that could not be. Idempotent."""
        with self._lock:
            if self._down:
                return self._report or TeardownReport(self.name, self.run_id)
            self._down = True
            with contextlib.suppress(Exception):
                atexit.unregister(self._down_at_exit)
            for probe in self._probes.values():
                with contextlib.suppress(Exception):
                    probe.close()
            self._probes.clear()
            td = Teardown(self.name, self.run_id, forced=self.hurry, on_force=self._hurry)
            if self._layout is not None or self._client is not None:
                td.step("collect logs", self._collect_logs, self.deadlines.logs_s, optional=True)
                client = td.step("connect to docker", lambda: self.client, self.deadlines.list_s)
                if client is None:
                    td.report.left.append(
                        f"every container and network of run {self.run_id} "
                        "(the Docker engine did not answer)"
                    )
                else:
                    teardown_run(client, self.run_id, td, self.deadlines)
                for other in self.other_engine_clients():
                    teardown_run(other, self.run_id, td, self.deadlines)
            self._containers.clear()
            self._links = None
            if self.data_size_mb:
                td.step(
                    "unmount data",
                    lambda: self.release_data_dirs(self.workdir / "data"),
                    self.deadlines.list_s,
                )
            td.step("remove work dir", self._cleanup_workdir, self.deadlines.list_s)
            self._report = td.finish()
            return self._report

    def other_engine_clients(self) -> list[Any]:
        """Clients of the engines other than the default one that carry part of the run
        (none here; several-engine backends name theirs): teardown reaches each."""
        return []

    def _hurry(self) -> None:
        self.hurry = True

    def _collect_logs(self) -> None:
        for node in list(self._containers):
            with contextlib.suppress(Exception):
                self.node_log(node)
        with contextlib.suppress(Exception):
            self.links_log()

    def _down_at_exit(self) -> None:
        """The atexit safety net: an interrupted harness still removes its run and says
        what it could not remove."""
        report = self.down()
        if not report.complete:
            sys.stderr.write(f"chaoskit: {report.summary()}\n")

    def _cleanup_workdir(self) -> None:
        if self._own_workdir:
            # Keep collected logs when the caller pointed logs_dir inside our workdir? No:
            # logs_dir defaults there only when nobody asked for them.
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            for sub in ("data", "clock"):
                shutil.rmtree(self.workdir / sub, ignore_errors=True)


def start_links_container(
    client: Any,
    image: str,
    command: list[str],
    *,
    name: str,
    labels: dict[str, str],
    networks: list[tuple[str, str, list[str]]],
    publish: dict[int, tuple[str, int | None]],
    environment: dict[str, str] | None = None,
) -> Any:
    """Create and start a links container on `networks` ([(network, IP, aliases)]),
    publishing each container port of `publish` at (host address, host port; None =
    any); returns the started container (reloaded: its port bindings known)."""
    api = client.api
    first, ip, aliases = networks[0]
    host_config = api.create_host_config(
        network_mode=first,
        init=True,
        port_bindings={port: (host, hp) for port, (host, hp) in publish.items()},
    )
    netcfg = api.create_networking_config(
        {first: api.create_endpoint_config(ipv4_address=ip, aliases=aliases)}
    )
    cid = api.create_container(
        image,
        command=command,
        name=name,
        hostname="links",
        environment=environment or None,
        labels=labels,
        host_config=host_config,
        networking_config=netcfg,
        ports=list(publish),
    )["Id"]
    for net, ip, aliases in networks[1:]:
        api.connect_container_to_network(cid, net, ipv4_address=ip, aliases=aliases)
    api.start(cid)
    container = client.containers.get(cid)
    container.reload()
    return container


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
