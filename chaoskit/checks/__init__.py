"""The checks of an experiment's `checks:` section: one module per check, one registry.

    CHECKS                         name -> CheckKind (parse + evaluate), in report order
    ChecksSpec                     the validated section (one field per check)
    parse_checks(context, raw, load) -> ChecksSpec      # used by the experiment validator
    evaluate_checks(spec, evidence)  -> [CheckResult]   # used by the report

To add a check: a module here with its dataclass, `parse`, `evaluate` and
`KIND = CheckKind(...)`, then a line in CHECKS and a field in ChecksSpec below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.checks import (
    availability,
    isolation,
    latency,
    linearizable,
    lost_writes,
    rto,
    unexpected_exits,
)
from chaoskit.checks.availability import AvailabilityCheck
from chaoskit.checks.base import PHASES, CheckKind, CheckResult, Evidence
from chaoskit.checks.isolation import IsolationCheck
from chaoskit.checks.latency import LatencyCheck
from chaoskit.checks.linearizable import LinearizableCheck
from chaoskit.checks.lost_writes import LostWritesCheck
from chaoskit.checks.rto import RtoCheck
from chaoskit.checks.unexpected_exits import UnexpectedExitsCheck

if TYPE_CHECKING:
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate.context import Context

CHECKS: dict[str, CheckKind] = {
    k.name: k
    for k in (
        linearizable.KIND,
        lost_writes.KIND,
        rto.KIND,
        availability.KIND,
        latency.KIND,
        isolation.KIND,
        unexpected_exits.KIND,
    )
}


@dataclass
class ChecksSpec:
    linearizable: LinearizableCheck | None = None
    lost_writes: LostWritesCheck | None = None
    rto: list[RtoCheck] | None = None
    availability: list[AvailabilityCheck] | None = None
    latency: list[LatencyCheck] | None = None
    isolation: IsolationCheck | None = None
    unexpected_exits: UnexpectedExitsCheck | None = None


def parse_checks(v: Context, raw: Any, load: LoadSpec) -> ChecksSpec:
    """The `checks:` section -> ChecksSpec; problems are reported through `v`."""
    path = ("checks",)
    spec = ChecksSpec()
    m = v.mapping(path, raw, CHECKS, "checks")
    for name, kind in CHECKS.items():
        if m and name in m:
            setattr(spec, name, kind.parse(v, (*path, name), m[name], load))
    return spec


def evaluate_checks(spec: ChecksSpec, evidence: Evidence) -> list[CheckResult]:
    """Every check of `spec`, judged on `evidence`, in CHECKS order."""
    out: list[CheckResult] = []
    for name, kind in CHECKS.items():
        value = getattr(spec, name)
        for check in (value or []) if kind.many else ([value] if value is not None else []):
            out.extend(kind.evaluate(check, evidence))
    return out


__all__ = [
    "CHECKS",
    "PHASES",
    "AvailabilityCheck",
    "CheckKind",
    "CheckResult",
    "ChecksSpec",
    "Evidence",
    "IsolationCheck",
    "LatencyCheck",
    "LinearizableCheck",
    "LostWritesCheck",
    "RtoCheck",
    "UnexpectedExitsCheck",
    "evaluate_checks",
    "parse_checks",
]
