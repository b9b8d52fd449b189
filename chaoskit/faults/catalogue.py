"""The fault catalogue: every fault kind by name, one `FaultDef` per fault.

Each family module (network, domains, congestion, process, clock, clock_motion,
quorum, resources, disk) defines its faults' entries
in a `FAULTS` tuple next to their apply functions; this module lists the family
modules once. To add a fault: its apply function and its `FaultDef` in a family
module (or a new module added to `_FAMILIES`). The validator, the fault manager,
the game day and the report all read this table.
"""

from __future__ import annotations

from chaoskit.faults import (
    clock,
    clock_motion,
    congestion,
    disk,
    domains,
    network,
    process,
    quorum,
    resources,
)
from chaoskit.faults.base import FaultDef, FaultError

_FAMILIES = (
    network,
    domains,
    congestion,
    process,
    clock,
    clock_motion,
    quorum,
    resources,
    disk,
)

FAULTS: dict[str, FaultDef] = {f.name: f for m in _FAMILIES for f in m.FAULTS}


def get_fault(name: str) -> FaultDef:
    """The catalogue entry of `name`; FaultError naming the known faults otherwise."""
    try:
        return FAULTS[name]
    except KeyError:
        raise FaultError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}") from None


def fault_names() -> list[str]:
    return sorted(FAULTS)


def family_of(kind: str) -> str:
    """The fault's family ("other" for a kind this chaoskit does not know)."""
    fd = FAULTS.get(kind)
    return fd.family if fd is not None else "other"


def effect_of(kind: str) -> str:
    """What the fault does to the pictures (see chaoskit.faults.base CUTS_LINKS ...)."""
    fd = FAULTS.get(kind)
    return fd.effect if fd is not None else ""
