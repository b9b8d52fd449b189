"""The `load:` section: workload, keys, duration, rates, ratios, timeout, workers."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import (
    LoadSpec,
)
from chaoskit.experiment.validate.context import (
    LOAD_FIELDS,
    WORKLOADS,
    Context,
    show,
)
from chaoskit.experiment.validate.txn import TXN_WORKLOADS, txn_options
from chaoskit.units import parse_rate


def load_section(v: Context, raw: Any) -> LoadSpec:
    path: PathT = ("load",)
    spec = LoadSpec()
    m = v.mapping(path, raw, LOAD_FIELDS, "load")
    if not m:
        v.duration_s = spec.duration_s
        return spec
    if "workload" in m:
        w = v.choice((*path, "workload"), m["workload"], WORKLOADS, "workload")
        spec.workload = w or spec.workload
    if "keys" in m:
        k = v.number((*path, "keys"), m["keys"], lo=1, integer=True)
        spec.keys = int(k) if k is not None else spec.keys
    if "duration" in m:
        d = v.duration((*path, "duration"), m["duration"], positive=True)
        spec.duration_s = d if d is not None else spec.duration_s
    if "rate" in m and "rate_per_region" in m:
        v.err(
            (*path, "rate_per_region"),
            "give either rate (total ops/s) or rate_per_region, not both",
        )
    elif "rate_per_region" in m:
        rp = m["rate_per_region"]
        if not isinstance(rp, dict) or not rp:
            v.err(
                (*path, "rate_per_region"),
                "rate_per_region must be a mapping region -> ops/s, e.g. {beijing: 100/s}",
            )
        else:
            rates: dict[str, float] = {}
            for r, val in rp.items():
                p = (*path, "rate_per_region", r)
                if v.region(p, r) is None:
                    continue
                try:
                    rates[r] = parse_rate(val)
                except ValueError as e:
                    v.err(p, str(e))
                    continue
                if v.clients.get(r, 0) == 0:
                    v.err(
                        p,
                        f"region {r!r} has no load users (topology.clients), so it cannot carry a rate",
                    )
            spec.rate, spec.rate_per_region = None, rates
    elif "rate" in m:
        try:
            spec.rate = parse_rate(m["rate"])
        except ValueError as e:
            v.err((*path, "rate"), str(e))
    for name in ("read_ratio", "cas_ratio"):
        if name in m:
            x = v.number((*path, name), m[name], lo=0, hi=1)
            if x is not None:
                setattr(spec, name, float(x))
    if "cas_ratio" in m and spec.workload != "cas-register":
        v.warn((*path, "cas_ratio"), "cas_ratio only matters for workload cas-register")
    if "timeout" in m:
        t = v.duration((*path, "timeout"), m["timeout"], positive=True)
        spec.timeout_s = t if t is not None else spec.timeout_s
    if "final_reads" in m:
        if isinstance(m["final_reads"], bool):
            spec.final_reads = m["final_reads"]
        else:
            v.err((*path, "final_reads"), f"expected true or false, got {show(m['final_reads'])}")
    if "workers" in m:
        w = v.number((*path, "workers"), m["workers"], lo=0, integer=True)
        spec.workers = int(w) if w is not None else 0
    if "txn" in m or spec.workload in TXN_WORKLOADS:
        spec.txn = txn_options(v, (*path, "txn"), m.get("txn"), spec)
    v.duration_s = spec.duration_s
    v.workload = spec.workload
    return spec
