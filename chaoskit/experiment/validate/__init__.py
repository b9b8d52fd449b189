"""Validation of a parsed experiment document into an `Experiment`.

Every problem becomes a ValidationError naming file, line and field and saying
what would be valid; validation goes on after an error so that one run shows
every problem. Sections are checked in dependency order (topology first: faults
and checks refer to its regions, zones and nodes; system second: clock faults
and workloads depend on the adapter), one module per section:

    topology.py  system.py  load.py  links.py  schedule.py (faults.py, selectors.py)
    and chaoskit.checks (each check parses its own entry)

`validate_fault` checks one fault entry against an already validated experiment
(what a game day does before applying a fault by hand).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaoskit.checks import ChecksSpec, parse_checks
from chaoskit.experiment.source import Source
from chaoskit.experiment.spec import (
    Experiment,
    FaultSpec,
    LinksSpec,
    LoadSpec,
    SystemSpec,
    ValidationError,
)
from chaoskit.experiment.validate.context import BACKENDS, NAME_RE, TOP_FIELDS, Context, show
from chaoskit.experiment.validate.faults import fault_entry
from chaoskit.experiment.validate.links import links_section
from chaoskit.experiment.validate.load import load_section
from chaoskit.experiment.validate.schedule import schedule_section
from chaoskit.experiment.validate.system import system_section
from chaoskit.experiment.validate.topology import topology_section
from chaoskit.units import format_duration

__all__ = ["Context", "validate_fault", "validate_source"]


def _resolved(
    data: dict,
    name: str,
    backend: str,
    seed: int,
    system: SystemSpec | None,
    load: LoadSpec,
    links: LinksSpec,
) -> dict:
    """The document with every default written out (saved as the run's experiment.yaml)."""
    doc = copy.deepcopy(data)
    doc["name"] = name
    doc.setdefault("description", "")
    doc["backend"] = backend
    doc["seed"] = seed
    if system is not None:
        doc["system"] = {"kind": system.kind, **copy.deepcopy(system.options)}
    ld: dict[str, Any] = {
        "workload": load.workload,
        "keys": load.keys,
        "duration": format_duration(load.duration_s),
    }
    if load.rate_per_region is not None:
        ld["rate_per_region"] = dict(load.rate_per_region)
    else:
        ld["rate"] = load.rate
    ld.update(
        read_ratio=load.read_ratio,
        cas_ratio=load.cas_ratio,
        timeout=format_duration(load.timeout_s),
        final_reads=load.final_reads,
        workers=load.workers,
    )
    doc["load"] = ld
    doc["links"] = {k: val for k, val in vars(links).items() if val is not None}
    doc.setdefault("schedule", [])
    doc.setdefault("checks", {})
    return doc


def validate_source(
    src: Source, source_path: Path
) -> tuple[Experiment | None, list[ValidationError], list[ValidationError]]:
    """Validate a parsed document: (experiment or None, errors, warnings)."""
    v = Context(src)
    data = src.data
    # `x-...` keys are free (docker-compose's convention): a place for YAML anchors.
    v.mapping(
        (), {k: x for k, x in data.items() if not k.startswith("x-")}, TOP_FIELDS, "the experiment"
    )

    name = data.get("name", source_path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        v.err(
            ("name",),
            f"name must be letters, digits, '.', '_' or '-' (it names the results directory); got {show(name)}",
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        v.err(("description",), f"description must be text; got {show(description)}")
        description = ""
    backend = v.choice(("backend",), data.get("backend", "local"), BACKENDS, "backend")
    v.backend = backend
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        v.err(("seed",), f"seed must be a whole number; got {show(seed)}")
        seed = 0

    topology = topology_section(v, data.get("topology"))
    system = system_section(v, data.get("system"), backend)
    load = load_section(v, data.get("load"))
    if system is not None and v.adapter_cls is not None:
        supported = v.adapter_cls.workloads
        if supported and load.workload not in supported:
            v.err(
                ("load", "workload"),
                f"system {system.kind!r} does not support workload {load.workload!r}; it supports {', '.join(supported)}",
            )
    if system is not None and v.adapter_cls is not None:
        for sub, msg in v.adapter_cls.check_options(system.options, backend, load.workload):
            v.err(("system", *sub), msg)
    links = links_section(v, data.get("links"), backend)
    # With a broken topology, still check what can be checked against the regions read so far.
    schedule = schedule_section(v, data.get("schedule")) if v.regions else []
    checks = parse_checks(v, data.get("checks"), load) if v.regions else ChecksSpec()

    if v.errors or topology is None or system is None or backend is None:
        return None, v.errors, v.warnings
    exp = Experiment(
        name=name,
        description=description,
        backend=backend,
        seed=seed,
        topology=topology,
        system=system,
        load=load,
        schedule=schedule,
        checks=checks,
        source_path=source_path,
        raw=_resolved(data, name, backend, seed, system, load, links),
        links=links,
        warnings=list(v.warnings),
    )
    return exp, [], v.warnings


def validate_fault(
    experiment: Experiment, raw: Mapping[str, Any], *, file: str = "<fault>"
) -> tuple[FaultSpec | None, list[ValidationError]]:
    """Validate one fault entry ({fault: NAME, param: value, ...}, no `at`/`for`)
    against a validated experiment's topology and system, as a schedule entry is.

    Returns (FaultSpec with defaults filled, []) or (None, errors); each error's
    field is the parameter's name ("" for the entry as a whole).
    """
    v = Context(Source(file, dict(raw)))
    topo = experiment.topology
    v.regions = [r.name for r in topo.regions]
    v.zones = [z.name for r in topo.regions for z in r.zones]
    v.nodes = [n.name for n in topo.nodes]
    v.clients = dict(topo.clients)
    v.system_kind = experiment.system.kind
    v.backend = experiment.backend
    v.duration_s = experiment.load.duration_s
    v.workload = experiment.load.workload
    from chaoskit import systems

    try:
        # the instance: a generic system's attributes (clock_skew) depend on its options
        v.adapter_cls = systems.get_adapter(experiment.system.kind)(dict(experiment.system.options))
    except ImportError:
        v.adapter_cls = None
    spec, _, _ = fault_entry(v, (), dict(raw), allow_at=False, allow_for=False)
    return (spec, []) if spec is not None and not v.errors else (None, v.errors)
