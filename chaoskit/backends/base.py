"""The backend contract: where nodes run and how they are started, stopped and skewed.

A backend knows processes or containers, never a system's protocol. The engine
drives it in this order: `plan()` -> `up()` -> `start_node()` per node -> faults
(`kill_node`, `pause_node`, `set_clock_offset`, ...) -> `down()`. `down()` must be
safe to call at any point, twice, and after a partial `up()`.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.backends import datafs
from chaoskit.backends.teardown import TeardownReport
from chaoskit.topology.model import AddressPlan, Topology


@dataclass
class NodeSpec:
    """How to run one node, as a system adapter describes it (backend-neutral).

    `argv[0]` may be "python3": backends run it with an interpreter that can import
    chaoskit (the venv's in local, the image's in docker). `data_dir` is created
    empty by the backend unless it already exists; `{data_dir}` in argv/env is
    replaced by the backend with the real path.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    data_dir: str = "{data_dir}"
    clean_data: bool = False  # wipe data_dir before starting (etcd restore-quorum)
    faketime: bool = False  # run under libfaketime with a per-node timestamp file
    # docker: the image to run (None = the backend's node image) and extra Debian
    # packages for an image built from chaoskit's node image (ignored by local).
    image: str | None = None
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeStatus:
    """What a backend sees of one node: running or not, and how it ended (`exit_code`:
    the process's exit status; `signal`: the signal that killed it; `detail`: anything
    else the backend knows, e.g. docker's OOMKilled)."""

    running: bool
    exit_code: int | None = None
    signal: str | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.running:
            return "running"
        how = [f"killed by {self.signal}"] if self.signal else []
        if self.exit_code is not None and not self.signal:
            how.append(f"exit code {self.exit_code}")
        return ", ".join(how + ([self.detail] if self.detail else [])) or "stopped"


class Backend(ABC):
    name: str = "abstract"
    # Load the disk-fault shim into every node (set before up() when the
    # experiment has disk faults; chaoskit.backends.diskfault).
    disk_faults: bool = False
    # The token the link server's API wants (chaoskit.access); None: none.
    links_token: str | None = None
    # A link server the backend did not start (a running Toxiproxy), else None.
    links_url: str | None = None

    def link_control(self, api_url: str) -> Any:
        """The chaoskit.links.control.LinkControl for the link server at `api_url`
        (a backend over several link servers returns one handle over all of them)."""
        from chaoskit.links.control import LinkControl

        return LinkControl(api_url, token=self.links_token)

    def pids(self) -> dict[str, int]:
        """Node name -> pid of node processes on this host ({} when nodes are not
        host processes, as in containers)."""
        return {}

    # Each node's data directory on its own tmpfs of this many MiB (None: a plain
    # directory); set before up() when the experiment fills disks
    # (chaoskit.backends.datafs).
    data_size_mb: int | None = None

    @abstractmethod
    def plan(self, topology: Topology, ports: tuple[str, ...]) -> AddressPlan:
        """Assign every node and link its addresses (no side effects)."""

    @abstractmethod
    def up(self, topology: Topology, plan: AddressPlan) -> str:
        """Create networks/dirs and start the link server; return its API URL."""

    @abstractmethod
    def start_node(self, node: str, spec: NodeSpec) -> None:
        """Start (or restart) a node. Returns once the process/container is running."""

    @abstractmethod
    def stop_node(self, node: str, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`. Never hangs."""

    @abstractmethod
    def kill_node(self, node: str) -> None:
        """SIGKILL at once."""

    @abstractmethod
    def pause_node(self, node: str) -> None:
        """SIGSTOP (docker: pause)."""

    @abstractmethod
    def resume_node(self, node: str) -> None:
        """SIGCONT (docker: unpause)."""

    @abstractmethod
    def is_running(self, node: str) -> bool: ...

    def engine_problem(self) -> tuple[str, str] | None:
        """What is wrong with what runs the nodes (a Docker engine), as (kind, words):
        kind "unreachable" (it does not answer) or "stopped" (it answers but stopped the
        run's own containers); None when all is well or the backend has no engine."""
        return None

    def node_status(self, node: str) -> NodeStatus | None:
        """The node's state and, once stopped, how it ended; None when the backend
        cannot tell right now (its engine does not answer)."""
        return NodeStatus(self.is_running(node))

    @abstractmethod
    def set_clock_offset(self, node: str, offset_ms: float | None) -> None:
        """Skew the node's wall clock by offset_ms (None = real time). Takes effect live
        for nodes started with `NodeSpec.faketime`."""

    def clock_skew_available(self) -> bool:
        """Whether nodes started with `NodeSpec.faketime` can run here (libfaketime)."""
        return True

    def set_disk_fault(self, node: str, control: str | None) -> None:
        """Switch the node's disk-fault shim: the control file's text, None = no fault."""
        raise NotImplementedError(f"{type(self).__name__} has no disk faults")

    def host_data_dir(self, node: str) -> Path:
        """The node's data directory as the harness's host sees it."""
        raise NotImplementedError(f"{type(self).__name__} has no host data directories")

    def prepare_data_dir(self, path: Path, clean: bool) -> None:
        """Create a node's data directory (wiped when `clean`): a size-limited tmpfs
        when `data_size_mb` is set, mounted once and kept across restarts."""
        if self.data_size_mb:
            datafs.mount(path, self.data_size_mb)
            if clean:
                datafs.clear(path)
            return
        if clean and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)

    def release_data_dirs(self, root: Path) -> None:
        """Unmount the size-limited data directories under `root` (teardown)."""
        if self.data_size_mb and root.is_dir():
            for path in root.iterdir():
                datafs.unmount(path)

    def fill_data_dir(self, node: str) -> int:
        """Fill the node's size-limited data directory (disk-full); returns bytes taken."""
        return datafs.fill(self.host_data_dir(node))

    def free_data_dir(self, node: str) -> None:
        """Undo fill_data_dir."""
        datafs.free(self.host_data_dir(node))

    def set_clock_rate(self, node: str, offset_ms: float, rate: float) -> None:
        """From now on the node's clock reads real time + offset_ms and runs at `rate`
        (clock drift; rate 1 and offset 0: real time again)."""
        raise NotImplementedError(f"{type(self).__name__} cannot make a clock drift")

    @abstractmethod
    def node_log(self, node: str) -> Path:
        """Path of the node's log file on the harness host (collected for docker)."""

    def adopt(self, name: str, pid: int) -> None:  # noqa: B027 - optional hook
        """Record a process started outside the backend (the load) so that cleanup
        after a crashed harness finds it too; backends without such a record ignore it."""

    @abstractmethod
    def down(self) -> TeardownReport | None:
        """Stop every node and the link server, remove what up() created, each step
        within a deadline (chaoskit.backends.teardown); returns what was removed and
        what could not be. Idempotent."""
