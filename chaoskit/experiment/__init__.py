"""chaoskit.experiment: the experiment YAML -- schema, defaults, validation.

    load_experiment(path, overrides=()) -> Experiment      # raises ExperimentError
    Experiment, LoadSpec, SystemSpec, ChecksSpec, FaultSpec, Timed, Sequence, Wait,
    RandomNemesis, ValidationError, ExperimentError        # chaoskit.experiment.spec
    FAULTS                                                 # chaoskit.faults.catalogue

The schema is documented field by field in docs/experiment.md.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chaoskit.experiment.source import Source, apply_overrides, parse_file, parse_text
from chaoskit.experiment.spec import (
    AvailabilityCheck,
    ChecksSpec,
    Experiment,
    ExperimentError,
    FaultSpec,
    LatencyCheck,
    LinearizableCheck,
    LinksSpec,
    LoadSpec,
    LostWritesCheck,
    RandomNemesis,
    RtoCheck,
    ScheduleItem,
    Sequence,
    SystemSpec,
    Timed,
    ValidationError,
    Wait,
)
from chaoskit.experiment.validate import validate_source
from chaoskit.faults.base import FaultDef, Param
from chaoskit.faults.catalogue import FAULTS, fault_names


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read, override (`--set path=value` strings) and validate an experiment file.

    Raises ExperimentError listing every problem (file, line, field, what would be
    valid). Warnings (e.g. a fault outlasting the load) are on `Experiment.warnings`.
    """
    return _validated(*parse_file(path), overrides, Path(path))


def load_experiment_text(
    text: str, overrides: list[str] | tuple[str, ...] = (), name: str = "<string>"
) -> Experiment:
    """Like load_experiment, from a YAML string (`name` stands in for the file name)."""
    return _validated(*parse_text(text, name), overrides, Path(name))


def _validated(
    src: Source | None,
    errors: list[ValidationError],
    overrides: list[str] | tuple[str, ...],
    path: Path,
) -> Experiment:
    """Overrides, then validation, of a parsed source; raises ExperimentError."""
    if src is None:
        raise ExperimentError(errors)
    errors = apply_overrides(src, overrides)
    if errors:
        raise ExperimentError(errors)
    exp, errors, warnings = validate_source(src, path)
    if exp is None:
        raise ExperimentError(errors, warnings)
    return exp


def resolved_yaml(experiment: Experiment) -> str:
    """The resolved document as YAML text (what a run saves as experiment.yaml)."""
    return yaml.safe_dump(experiment.raw, sort_keys=False, allow_unicode=True)


__all__ = [
    "FAULTS",
    "AvailabilityCheck",
    "ChecksSpec",
    "Experiment",
    "ExperimentError",
    "FaultDef",
    "FaultSpec",
    "LatencyCheck",
    "LinearizableCheck",
    "LinksSpec",
    "LoadSpec",
    "LostWritesCheck",
    "Param",
    "RandomNemesis",
    "RtoCheck",
    "ScheduleItem",
    "Sequence",
    "SystemSpec",
    "Timed",
    "ValidationError",
    "Wait",
    "fault_names",
    "load_experiment",
    "load_experiment_text",
    "resolved_yaml",
]
