"""The system-adapter contract: how to run, reach, judge and reshape one system.

An adapter knows its system's protocol, never where it runs: it describes nodes
as `NodeSpec`s and reaches them through the address plan's endpoints.

The load package imports adapters in a separate (gevent-patched) Locust process and
only calls `client()`; keep module imports light.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chaoskit.backends.base import Backend, NodeSpec
from chaoskit.topology.model import AddressPlan, Endpoint, Topology

# A cas the system evaluated and refused because the current value was not the
# expected one: type "fail" (no effect), and an error that starts with this marker
# (optionally followed by ": details"). The report counts it as served ("rejected"),
# not as unavailability: the system answered.
CAS_MISMATCH = "cas-mismatch"


def is_cas_mismatch(error: str | None) -> bool:
    """Whether an Outcome/history `error` marks a cas whose compare did not match."""
    return isinstance(error, str) and (
        error == CAS_MISMATCH or error.startswith(CAS_MISMATCH + ":")
    )


@dataclass
class Outcome:
    """One completed client operation, classified honestly.

    type: "ok" (took effect / read value is `value`), "fail" (certainly did not take
    effect), "info" (may or may not have taken effect: timeout, connection lost after
    the request was sent). A cas refused on a compare mismatch is
    `Outcome("fail", value, "cas-mismatch: ...")` (see CAS_MISMATCH).
    """

    type: str
    value: Any = None
    error: str | None = None


class Client(ABC):
    """A client bound to one region's view of the cluster."""

    @abstractmethod
    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        """f in {"read", "write", "cas", "add", "read-all"} (cas value = [expected, new])."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


@dataclass
class SystemContext:
    """What an adapter may touch while the cluster runs (quorum changes, roles)."""

    topology: Topology
    plan: AddressPlan
    backend: Backend
    members: list[str]  # current membership, updated by degrade/restore
    # The run's EventLog (chaoskit.events), for what an adapter does on its own
    # initiative (a retry, a restart) and must not hide; None outside a run.
    events: Any = None
    # The run may skew clocks (a clock fault is scheduled, or a live run can apply one):
    # start nodes that can be skewed with NodeSpec.faketime. False: libfaketime is not
    # needed, and may not be installed.
    clock_faults: bool = False


@dataclass(frozen=True)
class Starter:
    """The system's parts of a commented starter experiment (`chaoskit init`).

    Each text is YAML as it appears in the file, comments included; the starter
    as a whole must validate as written. The rest of the file (regions, load
    shape, the commented schedule examples) is common to every system.
    """

    system: str  # the `system:` block, from `system:` on (one line or several)
    about: str  # one sentence: what the system does while the first region is cut off
    backend: str = "local"
    backend_comment: str = "# local (processes on loopback) | docker"
    workload: str = "register"  # register | cas-register | set (one of `workloads`)
    timeout: str = "1s"  # client timeout
    clients: str = "2"  # load users per region, or a mapping region -> count
    duration: str = "30s"
    rate: str = "100/s"
    # The first schedule entry and the `checks:` lines (indented two spaces);
    # empty: a 10 s cut of the first region, then linearizable + rto + availability.
    schedule: str = ""
    checks: str = ""


OptionProblem = tuple[tuple[str | int, ...], str]


def unknown_names(given: Iterable[str], valid: Sequence[str], what: str) -> list[tuple[str, str]]:
    """(name, "unknown <what>; valid: <valid, in its order>") for each name of `given`
    that is not in `valid`: the unknown-option message of adapters and clients."""
    return [(k, f"unknown {what}; valid: {', '.join(valid)}") for k in given if k not in valid]


def option_type_problems(
    kind: str,
    options: dict[str, Any],
    known: set[str] | frozenset[str],
    *,
    bools: tuple[str, ...] = (),
    ints: dict[str, int] | None = None,
    names: tuple[str, ...] = (),
) -> list[OptionProblem]:
    """The common part of an adapter's `check_options`: unknown option names, and options
    that must be a boolean, an integer at least some minimum, or a node name."""
    out: list[OptionProblem] = [
        ((k,), msg) for k, msg in unknown_names(options, sorted(known), f"{kind} option")
    ]
    for k in bools:
        v = options.get(k)
        if v is not None and not isinstance(v, bool):
            out.append(((k,), f"{v!r} must be true or false"))
    for k, low in (ints or {}).items():
        v = options.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            out.append(((k,), f"{v!r} must be an integer >= {low}"))
    for k in names:
        v = options.get(k)
        if v is not None and not isinstance(v, str):
            out.append(((k,), f"{v!r} must be a node name"))
    return out


class SystemAdapter(ABC):
    """One system kind. Class attributes describe it to the validator before any
    instance exists; methods run it. Subclasses override what differs."""

    kind: str = "abstract"
    # Names of the ports each member listens on (links are made per port).
    ports: tuple[str, ...] = ("http",)
    # Whether disk faults reach this system: it keeps a data directory ({data_dir})
    # and writes it through the C library (chaoskit.backends.diskfault); why not, in words.
    supports_disk_faults: bool = False
    disk_faults_reason: str | None = None
    # Whether clock faults can skew this system's clock (libfaketime reaches it).
    supports_clock_skew: bool = False
    # Why not, in words, when supports_clock_skew is False (shown to the user).
    clock_skew_reason: str | None = None
    # Selector roles `roles()` may return beyond the common leader/follower/primary.
    role_names: tuple[str, ...] = ()
    # True when every member must be reachable at one address from everywhere
    # (etcd): only the docker backend's DNS aliases give that.
    needs_single_address: bool = False
    # Operations this system's clients accept, by workload.
    workloads: tuple[str, ...] = ("register",)
    # Option defaults, written out in the run's resolved experiment.yaml.
    defaults: dict[str, Any] = {}

    # Further starters `chaoskit init --system KIND-VARIANT` offers: variant -> what it is.
    starter_variants: dict[str, str] = {}

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def validate(self, backend: str) -> list[str]:
        """Problems with running this system on `backend`, in words (empty = fine)."""
        return []

    @classmethod
    def check_options(
        cls, options: dict[str, Any], backend: str | None, workload: str | None
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Mistakes in the `system:` block, each as (path inside it, message naming what
        is valid): the validator reports them as `file:line: system.<path>: message`."""
        return []

    @classmethod
    def starter(cls, regions: list[str], nodes: int, variant: str = "") -> Starter | None:
        """The starter experiment for this system over `regions` (region names, in
        order; the first one is cut off) with `nodes` nodes per region, named
        `<region>-1`..`<region>-<nodes>`; `variant` is "" or a key of
        `starter_variants`. None: `chaoskit init` offers no starter for this kind."""
        return None

    @abstractmethod
    def node_spec(self, node: str, ctx: SystemContext) -> NodeSpec: ...

    @abstractmethod
    def wait_ready(self, ctx: SystemContext, nodes: list[str], deadline_s: float) -> None:
        """Block until `nodes` serve; raise RuntimeError naming the node that did not."""

    @abstractmethod
    def client(self, view: dict[str, dict[str, Endpoint]], region: str, timeout_s: float) -> Client:
        """A client for a load user in `region`; `view` = plan.outside[region]."""

    def roles(self, ctx: SystemContext) -> dict[str, list[str]]:
        """System-given selector roles, e.g. {"leader": ["n3"]}."""
        return {}

    def degrade_quorum(self, ctx: SystemContext, survivors: list[str]) -> None:
        raise NotImplementedError(f"{self.kind} cannot degrade its quorum")

    def restore_quorum(self, ctx: SystemContext, returning: list[str]) -> None:
        raise NotImplementedError(f"{self.kind} cannot restore its quorum")
