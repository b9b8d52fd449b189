"""What a valid experiment still needs from the host it is about to run on.

Validation of the document (chaoskit.experiment.validate) does not look at the
machine; this does, before anything starts: a clock fault on the local backend
needs libfaketime on this host (the docker backend's node image carries it).
"""

from __future__ import annotations

from pathlib import Path

from chaoskit.backends.faketime import find_libfaketime, missing_message
from chaoskit.experiment.spec import Experiment, FaultSpec, ValidationError
from chaoskit.faults.catalogue import FAULTS


def clock_faults(experiment: Experiment) -> list[FaultSpec]:
    """The faults of the schedule that skew a clock, in file order."""
    return [f for f in experiment.all_faults() if f.kind in FAULTS and FAULTS[f.kind].clock]


def host_problems(
    experiment: Experiment, backend: str | None = None, faketime_root: str | Path | None = None
) -> list[ValidationError]:
    """Problems running `experiment` here on `backend` (default: the experiment's), one
    per offending schedule entry, as `file:line: field: message`. `faketime_root` is
    where libfaketime is looked for (default /usr/lib)."""
    backend = backend or experiment.backend
    faults = clock_faults(experiment)
    if backend != "local" or not faults or find_libfaketime(faketime_root) is not None:
        return []
    why = missing_message(faketime_root)
    return [
        ValidationError(
            str(experiment.source_path), f.line, "schedule", f"fault {f.kind} ({f.id}): {why}"
        )
        for f in faults
    ]
