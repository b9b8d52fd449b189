"""chaoskit.faults: the fault catalogue, one module per family (network, process,
clock, quorum), listed once in `catalogue`; see docs/faults.md.

    FaultDef       one fault: family, parameters, rules, apply, effect (base)
    FAULTS         name -> FaultDef (catalogue)
    FaultContext   what a fault may touch (backend, links, adapter, topology, plan)
    FaultManager   apply / heal / heal_all, writing events.jsonl
"""

from chaoskit.faults.base import Applied, FaultContext, FaultDef, FaultError, Param
from chaoskit.faults.catalogue import FAULTS, fault_names, get_fault
from chaoskit.faults.manager import FaultHandle, FaultManager

__all__ = [
    "FAULTS",
    "Applied",
    "FaultContext",
    "FaultDef",
    "FaultError",
    "FaultHandle",
    "FaultManager",
    "Param",
    "fault_names",
    "get_fault",
]
