"""The validated experiment, as plain dataclasses (what the engine codes against).

Units: every `*_s` field is seconds (float), every `*_ms` field milliseconds.
Fault parameters follow the conventions in `chaoskit.faults.base` (durations in seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The checks' dataclasses live with their checks (chaoskit.checks); an Experiment
# holds them, so they are importable from here too.
from chaoskit.checks import AvailabilityCheck as AvailabilityCheck
from chaoskit.checks import ChecksSpec
from chaoskit.checks import IsolationCheck as IsolationCheck
from chaoskit.checks import LatencyCheck as LatencyCheck
from chaoskit.checks import LinearizableCheck as LinearizableCheck
from chaoskit.checks import LostWritesCheck as LostWritesCheck
from chaoskit.checks import RtoCheck as RtoCheck
from chaoskit.topology.model import Topology


@dataclass(frozen=True)
class ValidationError:
    """One problem found in an experiment file. `line` is 1-based (None: not from the file)."""

    file: str
    line: int | None
    field: str  # dotted path, e.g. "schedule.0.for" ("" for the whole document)
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        label = f"{self.field}: " if self.field else ""
        kind = "warning: " if self.severity == "warning" else ""
        return f"{where}: {kind}{label}{self.message}"


class ExperimentError(Exception):
    """The experiment is invalid; `errors` lists every problem (str(err) shows them all)."""

    def __init__(
        self, errors: list[ValidationError], warnings: list[ValidationError] | None = None
    ):
        self.errors = list(errors)
        self.warnings = list(warnings or [])
        super().__init__(self._text())

    def _text(self) -> str:
        files = sorted({e.file for e in self.errors})
        n = len(self.errors)
        head = f"{n} problem{'s' if n != 1 else ''} in {', '.join(files) or 'experiment'}:"

        def by_place(e: ValidationError) -> tuple[str, int]:
            return e.file, e.line or 0  # in file order (the checks run by topic)

        return "\n".join(
            [
                head,
                *(f"  {e}" for e in sorted(self.errors, key=by_place)),
                *(f"  {w}" for w in sorted(self.warnings, key=by_place)),
            ]
        )


@dataclass
class FaultSpec:
    kind: str  # a name from chaoskit.faults.catalogue.FAULTS
    params: dict[str, Any]  # validated, defaults filled, durations in seconds
    line: int | None  # YAML line of the entry (for messages)
    id: str  # unique in the experiment: user-given `id`, else "f1", "f2", ... in file order


@dataclass
class Timed:
    """Apply `fault` at `at_s` (relative to load start; inside a Sequence: when reached)
    and heal it after `for_s` (None = at the end of the load)."""

    at_s: float
    for_s: float | None
    fault: FaultSpec
    line: int | None = None


@dataclass
class Wait:
    s: float
    line: int | None = None


@dataclass
class Sequence:
    """Steps run in order from `at_s`; a Timed step with `for_s` blocks that long, then heals.
    A Timed step without `for_s` stays applied until the end of the load (and does not block)."""

    at_s: float
    steps: list[Wait | Timed]
    line: int | None = None


@dataclass
class RandomNemesis:
    """Every `interval_s` from `start_s` until `stop_s` (None = end of load), apply one fault
    drawn from `faults` (with the run's seeded RNG) and heal it after `for_s`.
    Each application needs its own event id: use f"{fault.id}#{n}"."""

    faults: list[FaultSpec]
    interval_s: float
    for_s: float
    start_s: float
    stop_s: float | None
    line: int | None = None


ScheduleItem = Timed | Sequence | RandomNemesis


@dataclass
class SystemSpec:
    kind: str  # a registered kind (chaoskit.systems entry-point group)
    options: dict[str, Any] = field(default_factory=dict)  # passed to the adapter's constructor


@dataclass
class LoadSpec:
    workload: str = "register"  # register | cas-register | set
    keys: int = 8
    duration_s: float = 30.0
    rate: float | None = 100.0  # total ops/s over all regions (None when rate_per_region is set)
    rate_per_region: dict[str, float] | None = None
    read_ratio: float = 0.5  # share of reads; the rest are writes (cas-register: writes + cas)
    cas_ratio: float = 0.5  # cas-register: share of the non-read operations that are cas
    timeout_s: float = 1.0  # client timeout per operation
    final_reads: bool = True
    workers: int = 0  # Locust distributed workers (0 = in-process)
    txn: dict | None = None  # transactional workloads: TxnSpec fields (length, key_dist, ...)


@dataclass
class LinksSpec:
    """Which link server carries the links: the built-in one, or a real Toxiproxy.

    docker: `image` names the Toxiproxy image for the links container (server=toxiproxy).
    local: `url` points at an already running Toxiproxy API (server=toxiproxy)."""

    server: str = "builtin"  # builtin | toxiproxy
    image: str | None = None
    url: str | None = None


@dataclass
class Experiment:
    name: str
    description: str
    backend: str  # local | docker
    seed: int
    topology: Topology  # built, latency filled from the geo model + overrides
    system: SystemSpec
    load: LoadSpec
    schedule: list[ScheduleItem]
    checks: ChecksSpec
    source_path: Path
    raw: dict[str, Any]  # the resolved document (defaults + overrides), to save as experiment.yaml
    links: LinksSpec = field(default_factory=LinksSpec)
    warnings: list[ValidationError] = field(default_factory=list)

    def all_faults(self) -> list[FaultSpec]:
        """Every FaultSpec of the schedule, in file order."""
        out: list[FaultSpec] = []
        for item in self.schedule:
            if isinstance(item, Timed):
                out.append(item.fault)
            elif isinstance(item, Sequence):
                out.extend(s.fault for s in item.steps if isinstance(s, Timed))
            else:
                out.extend(item.faults)
        return out
