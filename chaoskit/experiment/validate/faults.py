"""One fault entry: its name, parameters, cross-field rules, `at`/`for` and id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import (
    FaultSpec,
)
from chaoskit.experiment.validate.context import (
    NAME_RE,
    Context,
    show,
    suggest,
)
from chaoskit.experiment.validate.selectors import (
    links_selector,
    node_groups,
    node_selector,
    region_groups,
    region_or_selector,
    zone_or_random,
)
from chaoskit.faults import base as fs
from chaoskit.faults.catalogue import FAULTS, fault_names


def _skewable_kinds() -> list[str]:
    """System kinds whose adapter can have its clock skewed (for error messages only;
    an adapter that fails to import is left out rather than failing validation)."""
    from chaoskit import systems

    out = []
    for kind in systems.known_kinds():
        try:
            if systems.get_adapter(kind).supports_clock_skew:
                out.append(kind)
        except Exception:
            continue
    return out


def _clock_skew_refusal(fault: str, kind: str, adapter_cls: Any) -> str:
    """Why a clock fault cannot run on this system, in words, and what would be valid."""
    reason = adapter_cls.clock_skew_reason or (
        f"its adapter ({getattr(adapter_cls, '__name__', type(adapter_cls).__name__)}) "
        "has supports_clock_skew = False"
    )
    ok = _skewable_kinds()
    instead = "use a system whose clock can be skewed" + (f" ({', '.join(ok)})" if ok else "")
    return (
        f"fault {fault} needs a system whose clock can be skewed; system {kind!r} cannot: "
        f"{reason}. Valid: {instead}, or remove this {fault} fault from the schedule"
    )


def param_value(v: Context, path: PathT, p: fs.Param, value: Any) -> Any:
    t = p.type
    if t == "region":
        return v.region(path, value)
    if t == "region-or-random":
        return v.region(path, value, allow=("random",))
    if t == "regions":
        if not isinstance(value, list) or not value:
            v.err(path, f"expected a list of region names; got {show(value)}")
            return None
        got = [v.region((*path, i), r) for i, r in enumerate(value)]
        return None if None in got else got
    if t == "region-groups":
        return region_groups(v, path, value)
    if t == "selector":
        return node_selector(v, path, value)
    if t == "links":
        return links_selector(v, path, value)
    if t in ("duration", "signed-duration"):
        return v.duration(path, value, signed=t == "signed-duration")
    if t == "datetime":
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value).isoformat()
            except ValueError:
                pass
        v.err(path, f"expected an ISO 8601 date-time like 2027-01-01T00:00:00; got {show(value)}")
        return None
    if t == "enum":
        return v.choice(path, value, p.choices, p.name)
    if t in ("number", "int"):
        x = v.number(
            path, value, lo=p.min, hi=p.max, lo_exclusive=p.min_exclusive, integer=t == "int"
        )
        return None if x is None else (int(x) if t == "int" else float(x))
    if t == "zone-or-random":
        return zone_or_random(v, path, value)
    if t == "region-or-selector":
        return region_or_selector(v, path, value)
    if t == "node-groups":
        return node_groups(v, path, value)
    raise AssertionError(
        f"fault catalogue: unknown parameter type {t!r}"
    )  # a table bug, not user input


def fault_entry(
    v: Context, path: PathT, raw: Any, *, allow_at: bool, allow_for: bool
) -> tuple[FaultSpec | None, float, float | None]:
    """A fault entry -> (FaultSpec or None, at_s, for_s)."""
    at_s, for_s = 0.0, None
    if not isinstance(raw, dict):
        v.err(
            path,
            f"a fault entry is a mapping like {{fault: kill, target: random-node}}; got {show(raw)}",
        )
        return None, at_s, for_s
    line = v.src.line(path)
    name = raw.get("fault")
    if not isinstance(name, str) or name not in FAULTS:
        hint = suggest(name, FAULTS) if isinstance(name, str) else ""
        v.err(
            (*path, "fault") if "fault" in raw else path,
            f"unknown fault {show(name)}; {hint}known faults: {', '.join(fault_names())}",
        )
        return None, at_s, for_s
    fd = FAULTS[name]
    entry_keys = [
        "fault",
        "id",
        *(["at"] if allow_at else []),
        *(["for"] if allow_for and not fd.instant else []),
    ]
    allowed = [*entry_keys, *(p.name for p in fd.params)]
    ok = True
    for key in raw:
        if key not in allowed:
            if key == "for" and fd.instant:
                v.err((*path, key), f"{name} has no heal, so it takes no `for`")
            elif key in ("at", "for"):
                where = (
                    "inside a sequence use {wait: ...} steps"
                    if key == "at"
                    else "the random nemesis sets `for` for all its faults"
                )
                v.err((*path, key), f"`{key}` is not allowed here ({where})")
            else:
                v.err(
                    (*path, key),
                    f"unknown field {key!r} for fault {name}; {suggest(key, allowed)}valid fields: {', '.join(allowed)}",
                )
            ok = False
    params: dict[str, Any] = {}
    for p in fd.params:
        if p.name in raw:
            val = param_value(v, (*path, p.name), p, raw[p.name])
            if val is None:
                ok = False
            else:
                params[p.name] = val
        elif p.required:
            v.err(path, f"fault {name} needs `{p.name}` ({p.doc or p.type})")
            ok = False
        elif p.default is not None:
            params[p.name] = p.default
    for group in fd.one_of:
        given = [g for g in group if g in raw]
        if len(given) != 1:
            v.err(
                path,
                f"fault {name} needs exactly one of {', '.join(group)}; got {', '.join(given) or 'none'}",
            )
            ok = False
    scope = fs.RuleScope(v.regions, v.zones, v.nodes, v.backend, v.adapter_cls)
    for rule in fd.rules:
        for field, message in rule(params, scope):
            v.err((*path, field), message)
            ok = False
    if fd.clock and v.adapter_cls is not None and not v.adapter_cls.supports_clock_skew:
        v.err((*path, "fault"), _clock_skew_refusal(name, v.system_kind, v.adapter_cls))
        ok = False
    if "at" in raw and allow_at:
        if fd.clock and isinstance(raw["at"], dt.date | dt.datetime):
            v.err(
                (*path, "at"),
                f"at: is when the fault starts (e.g. 15s); for an absolute clock use time: {raw['at'].isoformat()}",
            )
            return None, at_s, for_s
        a = v.duration((*path, "at"), raw["at"])
        ok = ok and a is not None
        at_s = a or 0.0
    if "for" in raw and allow_for and not fd.instant:
        f = v.duration((*path, "for"), raw["for"], positive=True)
        ok = ok and f is not None
        for_s = f
    fid = raw.get("id")
    if fid is not None:
        if not isinstance(fid, str) or not NAME_RE.match(fid):
            v.err((*path, "id"), f"an id is a short name (letters, digits, . _ -); got {show(fid)}")
            ok = False
    else:
        v.fault_count += 1
        fid = f"f{v.fault_count}"
        while fid in v.fault_ids:
            v.fault_count += 1
            fid = f"f{v.fault_count}"
    if isinstance(fid, str):
        if fid in v.fault_ids:
            v.err(
                (*path, "id"), f"id {fid!r} is already used by the fault at line {v.fault_ids[fid]}"
            )
            ok = False
        v.fault_ids[fid] = line
    if not ok:
        return None, at_s, for_s
    return FaultSpec(kind=name, params=params, line=line, id=fid), at_s, for_s
