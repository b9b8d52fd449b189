"""chaoskit.faults: the fault catalogue, one module per family (network, process,
clock, quorum), registered by name; see docs/faults.md.

    FaultContext   what a fault may touch (backend, links, adapter, topology, plan)
    FaultManager   apply / heal / heal_all, writing events.jsonl
    known_faults() the registered names (== chaoskit.experiment.faults_schema.FAULTS)
"""

from chaoskit.faults.base import Applied, FaultContext, FaultError, get_fault, known_faults
from chaoskit.faults.manager import FaultHandle, FaultManager

__all__ = [
    "Applied",
    "FaultContext",
    "FaultError",
    "FaultHandle",
    "FaultManager",
    "get_fault",
    "known_faults",
]
