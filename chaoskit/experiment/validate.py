"""Validation of a parsed experiment document into an `Experiment`.

Every problem becomes a ValidationError naming file, line and field and saying
what would be valid; validation goes on after an error so that one run shows
every problem. Sections are checked in dependency order (topology first: faults
and checks refer to its regions, zones and nodes; system second: clock faults
and workloads depend on the adapter).
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chaoskit.experiment import faults_schema as fs
from chaoskit.experiment.source import PathT, Source, dotted
from chaoskit.experiment.spec import (
    AvailabilityCheck,
    ChecksSpec,
    Experiment,
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
from chaoskit.experiment.values import DURATION_HINT, format_duration, parse_duration, parse_rate
from chaoskit.topology import geo
from chaoskit.topology.model import Latency, Topology, link_name
from chaoskit.topology.plan import RegionDef, build_topology, node_names

TOP_FIELDS = (
    "name",
    "description",
    "backend",
    "seed",
    "topology",
    "system",
    "load",
    "schedule",
    "checks",
    "links",
)
TOPOLOGY_FIELDS = ("regions", "clients", "latency")
REGION_FIELDS = ("location", "zones", "nodes")
LOAD_FIELDS = (
    "workload",
    "keys",
    "duration",
    "rate",
    "rate_per_region",
    "read_ratio",
    "cas_ratio",
    "timeout",
    "final_reads",
    "workers",
)
CHECK_FIELDS = ("linearizable", "lost_writes", "rto", "availability", "latency")
LINKS_FIELDS = ("server", "image", "url")
BACKENDS = ("local", "docker")
WORKLOADS = ("register", "cas-register", "set")
PHASES = ("before", "during", "after", "all")
DEFAULT_SYSTEM = {"kind": "geokv", "mode": "quorum"}
# Names people reach for that are spelled differently here.
FIELD_HINTS = {
    "rpo": "lost_writes",
    "nemesis": "schedule",
    "faults": "schedule",
    "workers_count": "workers",
    "after": "at",
    "duration": "for",
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
REGION_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def _suggest(word: str, options: Iterable[str]) -> str:
    m = difflib.get_close_matches(str(word), [str(o) for o in options], n=2, cutoff=0.6)
    return f"did you mean {' or '.join(repr(x) for x in m)}? " if m else ""


class _V:
    """Validation state: the source, found problems, and what earlier sections resolved."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.errors: list[ValidationError] = []
        self.warnings: list[ValidationError] = []
        self.regions: list[str] = []
        self.zones: list[str] = []
        self.nodes: list[str] = []
        self.clients: dict[str, int] = {}
        self.adapter_cls: Any = None
        self.system_kind = "geokv"
        self.duration_s = 30.0
        self.workload = "register"
        self.fault_ids: dict[str, int | None] = {}
        self.fault_count = 0

    # -- reporting --
    def err(self, path: PathT, msg: str) -> None:
        self.errors.append(
            ValidationError(
                self.src.file, self.src.line(path), dotted(path), msg + self.src.note(path)
            )
        )

    def warn(self, path: PathT, msg: str) -> None:
        self.warnings.append(
            ValidationError(
                self.src.file,
                self.src.line(path),
                dotted(path),
                msg + self.src.note(path),
                "warning",
            )
        )

    # -- shapes --
    def mapping(self, path: PathT, value: Any, fields: Iterable[str], what: str) -> dict | None:
        """`value` as a mapping whose keys are all in `fields` (unknown keys reported)."""
        fields = list(fields)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(
                path,
                f"{what} must be a mapping with fields {', '.join(fields)}; got {_show(value)}",
            )
            return None
        for key in value:
            if key not in fields:
                if FIELD_HINTS.get(key) in fields:
                    hint = f"did you mean {FIELD_HINTS[key]!r}? "
                else:
                    hint = _suggest(key, fields)
                self.err(
                    (*path, key),
                    f"unknown field {key!r} in {what}; {hint}valid fields: {', '.join(fields)}",
                )
        return value

    def duration(
        self, path: PathT, value: Any, *, positive: bool = False, signed: bool = False
    ) -> float | None:
        try:
            s = parse_duration(value, signed=signed)
        except ValueError as e:
            self.err(path, str(e))
            return None
        if positive and s <= 0:
            self.err(path, f"must be > 0 ({DURATION_HINT})")
            return None
        return s

    def number(
        self,
        path: PathT,
        value: Any,
        *,
        lo: float | None = None,
        hi: float | None = None,
        lo_exclusive: bool = False,
        integer: bool = False,
    ) -> float | int | None:
        kind = "a whole number" if integer else "a number"
        ok_type = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            self.err(
                path, f"expected {kind}{_range_text(lo, hi, lo_exclusive)}, got {_show(value)}"
            )
            return None
        if (lo is not None and (value < lo or (lo_exclusive and value == lo))) or (
            hi is not None and value > hi
        ):
            self.err(path, f"expected {kind}{_range_text(lo, hi, lo_exclusive)}, got {value}")
            return None
        return value

    def choice(
        self, path: PathT, value: Any, choices: Iterable[str], what: str = "value"
    ) -> str | None:
        choices = list(choices)
        if not isinstance(value, str) or value not in choices:
            hint = _suggest(value, choices) if isinstance(value, str) else ""
            self.err(path, f"unknown {what} {_show(value)}; {hint}valid: {', '.join(choices)}")
            return None
        return value

    def region(self, path: PathT, value: Any, *, allow: tuple[str, ...] = ()) -> str | None:
        if isinstance(value, str) and (value in self.regions or value in allow):
            return value
        extra = f" or {', '.join(repr(a) for a in allow)}" if allow else ""
        hint = _suggest(value, self.regions) if isinstance(value, str) else ""
        if isinstance(value, str):
            msg = f"region {value!r} does not exist; {hint}regions of this experiment: {', '.join(self.regions) or '(none)'}{extra}"
        else:
            msg = f"expected a region name{extra}, got {_show(value)}; regions: {', '.join(self.regions)}"
        self.err(path, msg)
        return None


def _show(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "nothing"
    return repr(v)


def _range_text(lo: float | None, hi: float | None, lo_exclusive: bool) -> str:
    if lo is not None and hi is not None:
        return f" from {lo:g} to {hi:g}"
    if lo is not None:
        return f" {'>' if lo_exclusive else '>='} {lo:g}"
    if hi is not None:
        return f" <= {hi:g}"
    return ""


# ---------------------------------------------------------------- topology


def _split_pair(key: str, regions: list[str]) -> tuple[str, str] | None:
    """ "beijing-xian" / "us-east-eu-west" / "a/b" / "a <-> b" -> (a, b) using known region names."""
    for sep in ("<->", "/", ",", " "):
        if sep in key:
            a, _, b = key.partition(sep)
            return (a.strip(), b.strip())
    for i, ch in enumerate(key):
        if ch == "-" and key[:i] in regions and key[i + 1 :] in regions:
            return (key[:i], key[i + 1 :])
    return None


def _topology(v: _V, raw: Any) -> Topology | None:
    path: PathT = ("topology",)
    if raw is None:
        v.err(
            path,
            "missing: an experiment needs topology.regions, e.g. {regions: {beijing: {location: beijing, zones: {bj-dc1: 3}}}}",
        )
        return None
    t = v.mapping(path, raw, TOPOLOGY_FIELDS, "topology")
    if t is None:
        return None
    regions_raw = t.get("regions")
    if not isinstance(regions_raw, dict) or not regions_raw:
        v.err(
            (*path, "regions"),
            "topology.regions must be a non-empty mapping: region name -> {location, zones}",
        )
        return None
    defs: dict[str, RegionDef] = {}
    ok = True
    zone_owner: dict[str, str] = {}
    for name, r in regions_raw.items():
        rp: PathT = (*path, "regions", name)
        if not REGION_RE.match(name):
            v.err(
                rp,
                f"region name {name!r} must be lowercase letters, digits and '-' (it becomes part of node and DNS names)",
            )
            ok = False
        elif name in ("all", "random"):
            v.err(
                rp,
                f"{name!r} cannot be a region name: it is a keyword where regions are named (region: {name})",
            )
            ok = False
        if isinstance(r, int) and not isinstance(r, bool):
            r = {"nodes": r}
        rm = v.mapping(rp, r, REGION_FIELDS, f"region {name!r}")
        if rm is None:
            ok = False
            continue
        location = rm.get("location", name)
        try:
            if not isinstance(location, str):
                raise geo.UnknownLocationError(str(location), [])
            geo.resolve(location)
        except geo.UnknownLocationError as e:
            where = (*rp, "location") if "location" in rm else rp
            msg = (
                str(e)
                if "location" in rm
                else f"{e} (no `location:` given, so the region name is used)"
            )
            v.err(where, msg)
            ok = False
        zones: dict[str, int] = {}
        if "zones" in rm and "nodes" in rm:
            v.err((*rp, "nodes"), "give either zones: {zone: count} or nodes: N, not both")
            ok = False
        elif "nodes" in rm:
            n = v.number((*rp, "nodes"), rm["nodes"], lo=0, integer=True)
            if n is None:
                ok = False
            else:
                zones = {f"{name}-dc1": int(n)}
        elif "zones" in rm:
            zr = rm["zones"]
            if not isinstance(zr, dict):
                v.err(
                    (*rp, "zones"),
                    f"zones must be a mapping zone name -> node count, e.g. {{{name}-dc1: 2}}; got {_show(zr)}",
                )
                ok = False
            else:
                for zname, count in zr.items():
                    zp = (*rp, "zones", zname)
                    n = v.number(zp, count, lo=0, integer=True)
                    if n is None:
                        ok = False
                        continue
                    if zname in zone_owner:
                        v.err(
                            zp,
                            f"zone {zname!r} is already a zone of region {zone_owner[zname]!r}; zone names are unique",
                        )
                        ok = False
                        continue
                    zone_owner[zname] = name
                    zones[str(zname)] = int(n)
        defs[name] = RegionDef(
            location=location if isinstance(location, str) else name, zones=zones
        )
    v.regions = list(defs)
    v.zones = list(zone_owner)
    # Known even when something above failed, so later sections can still be checked.
    v.nodes = [n for r, d in defs.items() for n, _ in node_names(r, d.zones)]
    if ok and sum(sum(d.zones.values()) for d in defs.values()) == 0:
        v.err(
            (*path, "regions"),
            "the topology has no nodes; give at least one region zones with nodes",
        )
        ok = False

    clients: dict[str, int] = {}
    craw = t.get("clients")
    if isinstance(craw, int) and not isinstance(craw, bool):
        n = v.number((*path, "clients"), craw, lo=0, integer=True)
        clients = {r: int(n) for r in defs} if n is not None else {}
    elif craw is not None:
        if not isinstance(craw, dict):
            v.err(
                (*path, "clients"),
                f"clients must be a number (per region) or a mapping region -> number of load users; got {_show(craw)}",
            )
        else:
            for r, n in craw.items():
                if v.region((*path, "clients", r), r) is None:
                    ok = False
                    continue
                c = v.number((*path, "clients", r), n, lo=0, integer=True)
                if c is not None:
                    clients[r] = int(c)

    overrides: dict[tuple[str, str], Latency] = {}
    lraw = t.get("latency")
    if lraw is not None and not isinstance(lraw, dict):
        v.err(
            (*path, "latency"),
            'latency must be a mapping "regionA-regionB" -> {rtt: 22ms, jitter: 2ms}',
        )
    for key, val in (lraw or {}).items() if isinstance(lraw, dict) else ():
        lp = (*path, "latency", key)
        pair = _split_pair(str(key), v.regions)
        if (
            pair is None
            or pair[0] not in v.regions
            or pair[1] not in v.regions
            or pair[0] == pair[1]
        ):
            v.err(
                lp,
                f'{key!r} does not name two different regions; write "A-B" (or "A/B") with A, B among {", ".join(v.regions)}',
            )
            continue
        if isinstance(val, str | int | float) and not isinstance(val, bool):
            val = {"rtt": val}
        lm = v.mapping(lp, val, ("rtt", "jitter"), f"latency {key!r}")
        if lm is None:
            continue
        if "rtt" not in lm:
            v.err(lp, "missing rtt (e.g. rtt: 22ms)")
            continue
        rtt = v.duration((*lp, "rtt"), lm["rtt"])
        jitter = v.duration((*lp, "jitter"), lm["jitter"]) if "jitter" in lm else None
        if rtt is None or ("jitter" in lm and jitter is None):
            continue
        rtt_ms = rtt * 1000
        jitter_ms = jitter * 1000 if jitter is not None else geo.default_jitter_ms(rtt_ms)
        a, b = pair
        overrides[(a, b) if a < b else (b, a)] = Latency(
            rtt_ms=round(rtt_ms, 3), jitter_ms=round(jitter_ms, 3)
        )
    if not ok:
        return None
    try:
        topo = build_topology(defs, clients=clients, latency=overrides)
    except (ValueError, geo.UnknownLocationError) as e:  # defensive: checked above
        v.err(path, str(e))
        return None
    v.nodes = [n.name for n in topo.nodes]
    v.clients = dict(topo.clients)
    if sum(topo.clients.values()) == 0:
        v.err((*path, "clients"), "no region has load users; set clients per region (default 2)")
    return topo


# ---------------------------------------------------------------- system, load, links


def _system(v: _V, raw: Any, backend: str | None) -> SystemSpec | None:
    path: PathT = ("system",)
    if raw is None:
        raw = dict(DEFAULT_SYSTEM)
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict):
        v.err(
            path, f"system must be a mapping {{kind: geokv, mode: quorum, ...}}; got {_show(raw)}"
        )
        return None
    from chaoskit import systems

    kind = raw.get("kind", "geokv")
    if v.choice((*path, "kind"), kind, systems.known_kinds(), "system kind") is None:
        return None
    options = {k: copy.deepcopy(val) for k, val in raw.items() if k not in ("kind", "options")}
    if "options" in raw:
        if not isinstance(raw["options"], dict):
            v.err((*path, "options"), f"options must be a mapping; got {_show(raw['options'])}")
        else:
            options.update(copy.deepcopy(raw["options"]))
    if kind == "geokv":
        options.setdefault("mode", DEFAULT_SYSTEM["mode"])
    v.system_kind = kind
    try:
        cls = systems.get_adapter(kind)
    except ImportError as e:
        v.warn((*path, "kind"), f"system options not checked: {e}")
        cls = None
    if cls is not None:
        v.adapter_cls = cls
        try:
            adapter = cls(options)
            problems = adapter.validate(backend or "local") if backend else []
        except Exception as e:  # an adapter rejecting its options: say so at the system
            v.err(path, f"{kind}: invalid options: {e}")
            problems = []
        for p in problems:
            v.err(path, p)
        if getattr(cls, "needs_single_address", False) and backend == "local" and not problems:
            v.err(
                ("backend",),
                f"system {kind!r} needs one address per member reachable from every region, "
                "which only the docker backend gives; use backend: docker",
            )
    return SystemSpec(kind=kind, options=options)


def _load(v: _V, raw: Any) -> LoadSpec:
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
            v.err((*path, "final_reads"), f"expected true or false, got {_show(m['final_reads'])}")
    if "workers" in m:
        w = v.number((*path, "workers"), m["workers"], lo=0, integer=True)
        spec.workers = int(w) if w is not None else 0
    v.duration_s = spec.duration_s
    v.workload = spec.workload
    return spec


def _links(v: _V, raw: Any, backend: str | None) -> LinksSpec:
    path: PathT = ("links",)
    spec = LinksSpec()
    m = v.mapping(path, raw, LINKS_FIELDS, "links")
    if not m:
        return spec
    if "server" in m:
        spec.server = (
            v.choice((*path, "server"), m["server"], ("builtin", "toxiproxy"), "link server")
            or "builtin"
        )
    for name in ("image", "url"):
        if name in m:
            if isinstance(m[name], str) and m[name]:
                setattr(spec, name, m[name])
            else:
                v.err((*path, name), f"expected a string, got {_show(m[name])}")
    if spec.server == "toxiproxy":
        if backend == "docker" and not spec.image:
            v.err(
                path,
                "server: toxiproxy on the docker backend needs image: (e.g. ghcr.io/shopify/toxiproxy:2.9.0)",
            )
        if backend == "local" and not spec.url:
            v.err(
                path,
                "server: toxiproxy on the local backend needs url: of a running Toxiproxy API (e.g. http://127.0.0.1:8474)",
            )
    return spec


# ---------------------------------------------------------------- faults


def _roles(v: _V) -> list[str]:
    extra = list(getattr(v.adapter_cls, "role_names", ()) or ())
    return [*fs.KNOWN_ROLES, *[r for r in extra if r not in fs.KNOWN_ROLES]]


def _selector(v: _V, path: PathT, value: Any) -> Any:
    keywords = [*fs.NODE_SELECTOR_KEYWORDS, *_roles(v)]
    shape = (
        f"one of {', '.join(keywords)}, a node name ({', '.join(v.nodes[:4])}{', ...' if len(v.nodes) > 4 else ''}), "
        "or {region: R} | {zone: Z} | {node: N} | {role: R} | {random: K, of: <selector>}"
    )
    if isinstance(value, str):
        if value in keywords or value in v.nodes:
            return value
        v.err(
            path,
            f"unknown target {value!r}; {_suggest(value, [*keywords, *v.nodes])}valid: {shape}",
        )
        return None
    if isinstance(value, dict):
        keys = set(value)
        if "random" in keys:
            if not keys <= {"random", "of"}:
                v.err(
                    path,
                    f"{{random: K, of: <selector>}} takes only random and of; got {', '.join(sorted(keys))}",
                )
                return None
            k = v.number((*path, "random"), value["random"], lo=1, integer=True)
            inner = _selector(v, (*path, "of"), value.get("of", "all"))
            if k is None or inner is None:
                return None
            return {"random": int(k), "of": inner}
        if len(keys) != 1 or not keys <= set(fs.NODE_SELECTOR_KEYS):
            bad = next(iter(keys - set(fs.NODE_SELECTOR_KEYS)), None)
            hint = _suggest(bad, fs.NODE_SELECTOR_KEYS) if bad else ""
            v.err(
                path,
                f"a selector mapping has exactly one of region, zone, node, role, random; {hint}got {', '.join(sorted(map(str, keys))) or 'nothing'}",
            )
            return None
        (key,) = keys
        val = value[key]
        if key == "region":
            return {"region": val} if v.region((*path, "region"), val) else None
        if key == "zone":
            if isinstance(val, str) and val in v.zones:
                return {"zone": val}
            v.err(
                (*path, "zone"),
                f"zone {_show(val)} does not exist; {_suggest(val, v.zones) if isinstance(val, str) else ''}zones: {', '.join(v.zones)}",
            )
            return None
        if key == "node":
            if isinstance(val, str) and val in v.nodes:
                return {"node": val}
            v.err(
                (*path, "node"),
                f"node {_show(val)} does not exist; {_suggest(val, v.nodes) if isinstance(val, str) else ''}nodes: {', '.join(v.nodes)}",
            )
            return None
        if isinstance(val, str) and val:
            return {"role": val}
        v.err(
            (*path, "role"),
            f"expected a role name such as {', '.join(_roles(v))}, got {_show(val)}",
        )
        return None
    v.err(path, f"expected a node selector: {shape}; got {_show(value)}")
    return None


def _link_names(v: _V) -> list[str] | None:
    ports = getattr(v.adapter_cls, "ports", None)
    if not ports or not v.nodes:
        return None
    region_of = {n: n.rsplit("-", 1)[0] for n in v.nodes}  # nodes are named <region>-<n>
    return [
        link_name(src, n, p)
        for src in v.regions
        for n in v.nodes
        if region_of[n] != src
        for p in ports
    ]


def _skewable_kinds() -> list[str]:
    """System kinds whose adapter can have its clock skewed (for error messages only;
    an adapter that fails to import is left out rather than failing validation)."""
    from chaoskit import systems

    out = []
    for kind in systems.known_kinds():
        try:
            if getattr(systems.get_adapter(kind), "supports_clock_skew", False):
                out.append(kind)
        except Exception:
            continue
    return out


def _clock_skew_refusal(fault: str, kind: str, adapter_cls: Any) -> str:
    """Why a clock fault cannot run on this system, in words, and what would be valid."""
    reason = getattr(adapter_cls, "clock_skew_reason", None) or (
        f"its adapter ({getattr(adapter_cls, '__name__', kind)}) has supports_clock_skew = False"
    )
    ok = _skewable_kinds()
    instead = "use a system whose clock can be skewed" + (f" ({', '.join(ok)})" if ok else "")
    return (
        f"fault {fault} needs a system whose clock can be skewed; system {kind!r} cannot: "
        f"{reason}. Valid: {instead}, or remove this {fault} fault from the schedule"
    )


def _links_selector(v: _V, path: PathT, value: Any) -> Any:
    shape = "all, {between: [A, B]}, {region: R} or {names: [link names]}"
    if value == "all":
        return "all"
    if (
        not isinstance(value, dict)
        or len(value) != 1
        or next(iter(value)) not in fs.LINK_SELECTOR_KEYS
    ):
        extra = ""
        if isinstance(value, dict):
            bad = [k for k in value if k not in fs.LINK_SELECTOR_KEYS]
            extra = _suggest(bad[0], fs.LINK_SELECTOR_KEYS) if bad else ""
        v.err(path, f"expected a link selector: {shape}; {extra}got {_show(value)}")
        return None
    ((key, val),) = value.items()
    if key == "region":
        return {"region": val} if v.region((*path, "region"), val) else None
    if key == "between":
        if not isinstance(val, list) or len(val) != 2:
            v.err(
                (*path, "between"),
                f"between takes two region names, e.g. [beijing, xian]; got {_show(val)}",
            )
            return None
        got = [v.region((*path, "between", i), r) for i, r in enumerate(val)]
        if None in got:
            return None
        if got[0] == got[1]:
            v.err(
                (*path, "between"),
                "between needs two different regions (links only join different regions)",
            )
            return None
        return {"between": got}
    if not isinstance(val, list) or not val or not all(isinstance(x, str) for x in val):
        v.err(
            (*path, "names"),
            f"names takes a list of link names like beijing->xian-1:http; got {_show(val)}",
        )
        return None
    known = _link_names(v)
    if known is not None:
        for i, name in enumerate(val):
            if name not in known:
                v.err(
                    (*path, "names", i),
                    f"no link named {name!r}; {_suggest(name, known)}links are named <source region>-><node>:<port>",
                )
    return {"names": list(val)}


def _region_groups(v: _V, path: PathT, value: Any) -> list[list[str]] | None:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(g, list) and g for g in value)
    ):
        v.err(
            path,
            f"expected a list of non-empty lists of region names, e.g. [[beijing], [xian, shanghai]]; got {_show(value)}",
        )
        return None
    seen: dict[str, int] = {}
    out: list[list[str]] = []
    for gi, group in enumerate(value):
        g: list[str] = []
        for ri, r in enumerate(group):
            if v.region((*path, gi, ri), r) is None:
                return None
            if r in seen:
                v.err(
                    (*path, gi, ri),
                    f"region {r!r} is already in group {seen[r]}; groups must not overlap",
                )
                return None
            seen[r] = gi
            g.append(r)
        out.append(g)
    return out


def _param(v: _V, path: PathT, p: fs.Param, value: Any) -> Any:
    t = p.type
    if t == "region":
        return v.region(path, value)
    if t == "region-or-random":
        return v.region(path, value, allow=("random",))
    if t == "regions":
        if not isinstance(value, list) or not value:
            v.err(path, f"expected a list of region names; got {_show(value)}")
            return None
        got = [v.region((*path, i), r) for i, r in enumerate(value)]
        return None if None in got else got
    if t == "region-groups":
        return _region_groups(v, path, value)
    if t == "selector":
        return _selector(v, path, value)
    if t == "links":
        return _links_selector(v, path, value)
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
        v.err(path, f"expected an ISO 8601 date-time like 2027-01-01T00:00:00; got {_show(value)}")
        return None
    if t == "enum":
        return v.choice(path, value, p.choices, p.name)
    if t in ("number", "int"):
        x = v.number(
            path, value, lo=p.min, hi=p.max, lo_exclusive=p.min_exclusive, integer=t == "int"
        )
        return None if x is None else (int(x) if t == "int" else float(x))
    raise AssertionError(
        f"faults_schema: unknown parameter type {t!r}"
    )  # a table bug, not user input


def _fault(
    v: _V, path: PathT, raw: Any, *, allow_at: bool, allow_for: bool
) -> tuple[FaultSpec | None, float, float | None]:
    """A fault entry -> (FaultSpec or None, at_s, for_s)."""
    at_s, for_s = 0.0, None
    if not isinstance(raw, dict):
        v.err(
            path,
            f"a fault entry is a mapping like {{fault: kill, target: random-node}}; got {_show(raw)}",
        )
        return None, at_s, for_s
    line = v.src.line(path)
    name = raw.get("fault")
    if not isinstance(name, str) or name not in fs.FAULTS:
        hint = _suggest(name, fs.FAULTS) if isinstance(name, str) else ""
        v.err(
            (*path, "fault") if "fault" in raw else path,
            f"unknown fault {_show(name)}; {hint}known faults: {', '.join(fs.fault_names())}",
        )
        return None, at_s, for_s
    fd = fs.FAULTS[name]
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
                    f"unknown field {key!r} for fault {name}; {_suggest(key, allowed)}valid fields: {', '.join(allowed)}",
                )
            ok = False
    params: dict[str, Any] = {}
    for p in fd.params:
        if p.name in raw:
            val = _param(v, (*path, p.name), p, raw[p.name])
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
    if name == "bridge" and "halves" in params and "bridge" in params:
        if len(params["halves"]) != 2:
            v.err(
                (*path, "halves"), f"bridge needs exactly two halves; got {len(params['halves'])}"
            )
            ok = False
        elif any(params["bridge"] in h for h in params["halves"]):
            v.err(
                (*path, "bridge"),
                f"the bridge region {params['bridge']!r} must not be in either half",
            )
            ok = False
    if name == "partition" and "groups" in params:
        named = {r for g in params["groups"] for r in g}
        if len(params["groups"]) + (1 if set(v.regions) - named else 0) < 2:
            v.err(
                (*path, "groups"),
                "a partition needs at least two groups (regions not named form one more group)",
            )
            ok = False
    if (
        name == "one-way"
        and params.get("from") is not None
        and params.get("from") == params.get("to")
    ):
        v.err((*path, "to"), "from and to must be different regions")
        ok = False
    if (
        fd.clock
        and v.adapter_cls is not None
        and not getattr(v.adapter_cls, "supports_clock_skew", False)
    ):
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
            v.err(
                (*path, "id"), f"an id is a short name (letters, digits, . _ -); got {_show(fid)}"
            )
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


def _schedule(v: _V, raw: Any) -> list[ScheduleItem]:
    path: PathT = ("schedule",)
    if raw is None:
        return []
    if not isinstance(raw, list):
        v.err(
            path,
            f"schedule must be a list of entries (- {{at: 15s, fault: ...}}); got {_show(raw)}",
        )
        return []
    items: list[ScheduleItem] = []
    D = v.duration_s
    for i, entry in enumerate(raw):
        p: PathT = (*path, i)
        line = v.src.line(p)
        if isinstance(entry, dict) and "sequence" in entry:
            _check_keys(v, p, entry, ("sequence", "at"), "a sequence entry")
            at = v.duration((*p, "at"), entry["at"]) if "at" in entry else 0.0
            steps_raw = entry["sequence"]
            if not isinstance(steps_raw, list) or not steps_raw:
                v.err(
                    (*p, "sequence"),
                    "sequence takes a non-empty list of steps: {wait: 5s} or {fault: ..., for: 10s}",
                )
                continue
            steps: list[Wait | Timed] = []
            t = at or 0.0
            for j, step in enumerate(steps_raw):
                sp = (*p, "sequence", j)
                if isinstance(step, dict) and "wait" in step:
                    _check_keys(v, sp, step, ("wait",), "a wait step")
                    w = v.duration((*sp, "wait"), step["wait"])
                    if w is not None:
                        steps.append(Wait(w, v.src.line(sp)))
                        t += w
                    continue
                spec, _, for_s = _fault(v, sp, step, allow_at=False, allow_for=True)
                if spec is not None:
                    steps.append(Timed(0.0, for_s, spec, v.src.line(sp)))
                    t += for_s or 0.0
            if t > D:
                v.warn(
                    p,
                    f"the sequence runs until {t:g}s, after the load ends at {D:g}s (load.duration); faults still active then are healed",
                )
            items.append(Sequence(at or 0.0, steps, line))
        elif isinstance(entry, dict) and "random" in entry:
            _check_keys(v, p, entry, ("random",), "a random entry")
            rp = (*p, "random")
            r = v.mapping(
                rp, entry["random"], ("faults", "interval", "for", "start", "stop"), "random"
            )
            if r is None:
                continue
            faults_raw = r.get("faults")
            if not isinstance(faults_raw, list) or not faults_raw:
                v.err(
                    (*rp, "faults") if "faults" in r else rp,
                    "random needs faults: a non-empty list of fault entries to draw from",
                )
                continue
            faults = [
                _fault(v, (*rp, "faults", j), f, allow_at=False, allow_for=False)[0]
                for j, f in enumerate(faults_raw)
            ]
            interval = (
                v.duration((*rp, "interval"), r["interval"], positive=True)
                if "interval" in r
                else None
            )
            if "interval" not in r:
                v.err(rp, "random needs interval: time between fault draws, e.g. 10s")
            for_s = v.duration((*rp, "for"), r["for"], positive=True) if "for" in r else None
            if "for" not in r:
                v.err(rp, "random needs for: how long each drawn fault lasts, e.g. 5s")
            start = v.duration((*rp, "start"), r["start"]) if "start" in r else 0.0
            stop = v.duration((*rp, "stop"), r["stop"], positive=True) if "stop" in r else None
            if start is not None and stop is not None and stop <= start:
                v.err((*rp, "stop"), f"stop ({stop:g}s) must be after start ({start:g}s)")
                continue
            if (
                None in faults
                or interval is None
                or for_s is None
                or start is None
                or ("stop" in r and stop is None)
            ):
                continue
            if for_s > interval:
                v.warn(
                    (*rp, "for"),
                    f"for ({for_s:g}s) is longer than interval ({interval:g}s): the next draw waits until the previous fault heals",
                )
            if start >= D:
                v.warn(
                    (*rp, "start"),
                    f"starts at {start:g}s, after the load ends at {D:g}s (load.duration)",
                )
            if stop is not None and stop > D:
                v.warn(
                    (*rp, "stop"),
                    f"stops at {stop:g}s, after the load ends at {D:g}s (load.duration)",
                )
            items.append(
                RandomNemesis([f for f in faults if f], interval, for_s, start, stop, line)
            )
        elif isinstance(entry, dict) and "fault" in entry:
            spec, at, for_s = _fault(v, p, entry, allow_at=True, allow_for=True)
            if spec is None:
                continue
            if at >= D:
                v.warn(
                    (*p, "at"), f"starts at {at:g}s, when the load (load.duration {D:g}s) is over"
                )
            elif for_s is not None and at + for_s > D:
                v.warn(
                    (*p, "for"),
                    f"would outlast the load: ends at {at + for_s:g}s, the load at {D:g}s; it is healed when the load ends",
                )
            items.append(Timed(at, for_s, spec, line))
        elif isinstance(entry, dict) and "wait" in entry:
            v.err(
                (*p, "wait"),
                "wait is a step of a sequence (- sequence: [{wait: 5s}, ...]); at the top level use at:",
            )
        else:
            v.err(
                p,
                "each schedule entry needs fault: (a timed fault), sequence: (steps in order) or random: (a random nemesis)",
            )
    return items


def _check_keys(v: _V, path: PathT, m: dict, allowed: tuple[str, ...], what: str) -> None:
    for key in m:
        if key not in allowed:
            v.err(
                (*path, key),
                f"unknown field {key!r} in {what}; {_suggest(key, allowed)}valid fields: {', '.join(allowed)}",
            )


# ---------------------------------------------------------------- checks


def _as_list(v: _V, path: PathT, raw: Any) -> list[tuple[PathT, Any]]:
    if isinstance(raw, list):
        return [((*path, i), x) for i, x in enumerate(raw)]
    return [(path, raw)]


def _check_region(v: _V, path: PathT, m: dict) -> str | None:
    region = m.get("region", "all")
    r = v.region((*path, "region"), region, allow=("all",))
    if r and r != "all" and v.clients.get(r, 0) == 0:
        v.warn(
            (*path, "region"),
            f"region {r!r} has no load users, so there is nothing to measure there",
        )
    return r


def _checks(v: _V, raw: Any, load: LoadSpec) -> ChecksSpec:
    path: PathT = ("checks",)
    spec = ChecksSpec()
    m = v.mapping(path, raw, CHECK_FIELDS, "checks")
    if not m:
        return spec
    lin = m.get("linearizable")
    lp = (*path, "linearizable")
    if lin is True:
        spec.linearizable = LinearizableCheck(model=load.workload)
    elif isinstance(lin, dict):
        lm = v.mapping(lp, lin, ("model", "timeout"), "linearizable")
        if lm is not None:
            model = v.choice((*lp, "model"), lm.get("model", load.workload), WORKLOADS, "model")
            if (
                model
                and model != load.workload
                and not (model == "register" and load.workload == "cas-register")
            ):
                v.err(
                    (*lp, "model"),
                    f"model {model!r} does not fit workload {load.workload!r} (load.workload); use {load.workload}",
                )
                model = None
            t = (
                v.duration((*lp, "timeout"), lm["timeout"], positive=True)
                if "timeout" in lm
                else 60.0
            )
            if model and t is not None:
                spec.linearizable = LinearizableCheck(model=model, timeout_s=t)
    elif lin not in (None, False):
        v.err(
            lp,
            f"expected true, false or {{model: register|cas-register|set, timeout: 60s}}; got {_show(lin)}",
        )

    if "lost_writes" in m:
        lw = m["lost_writes"]
        wp = (*path, "lost_writes")
        if lw is True:
            spec.lost_writes = LostWritesCheck()
        elif isinstance(lw, dict):
            wm = v.mapping(wp, lw, ("max", "max_age"), "lost_writes")
            if wm is not None:
                mx = v.number((*wp, "max"), wm.get("max", 0), lo=0, integer=True)
                age = v.duration((*wp, "max_age"), wm["max_age"]) if "max_age" in wm else None
                if mx is not None and ("max_age" not in wm or age is not None):
                    spec.lost_writes = LostWritesCheck(max=int(mx), max_age_s=age)
        elif lw is not False:
            v.err(wp, f"expected {{max: 0, max_age: 5s}} or true; got {_show(lw)}")
        if spec.lost_writes and not load.final_reads:
            v.warn(wp, "lost writes are found by the final reads, but load.final_reads is false")

    if "rto" in m:
        out: list[RtoCheck] = []
        for p, item in _as_list(v, (*path, "rto"), m["rto"]):
            im = v.mapping(p, item, ("region", "max", "threshold", "window"), "rto")
            if im is None:
                continue
            region = _check_region(v, p, im)
            if "max" not in im:
                v.err(p, "rto needs max: the longest acceptable recovery time, e.g. 10s")
                continue
            mx = v.duration((*p, "max"), im["max"])
            th = v.number(
                (*p, "threshold"), im.get("threshold", 0.9), lo=0, hi=1, lo_exclusive=True
            )
            win = v.duration((*p, "window"), im["window"], positive=True) if "window" in im else 1.0
            if None not in (region, mx, th, win):
                out.append(RtoCheck(region=region, max_s=mx, threshold=float(th), window_s=win))
        spec.rto = out

    if "availability" in m:
        av: list[AvailabilityCheck] = []
        for p, item in _as_list(v, (*path, "availability"), m["availability"]):
            im = v.mapping(p, item, ("region", "phase", "min"), "availability")
            if im is None:
                continue
            region = _check_region(v, p, im)
            phase = v.choice((*p, "phase"), im.get("phase", "all"), PHASES, "phase")
            if "min" not in im:
                v.err(
                    p,
                    "availability needs min: the lowest acceptable success rate, 0..1 (e.g. 0.99)",
                )
                continue
            mn = v.number((*p, "min"), im["min"], lo=0, hi=1)
            if None not in (region, phase, mn):
                av.append(AvailabilityCheck(region=region, phase=phase, min=float(mn)))
        spec.availability = av

    if "latency" in m:
        lat: list[LatencyCheck] = []
        for p, item in _as_list(v, (*path, "latency"), m["latency"]):
            im = v.mapping(p, item, ("region", "phase", "p50", "p95", "p99"), "latency")
            if im is None:
                continue
            region = _check_region(v, p, im)
            phase = v.choice((*p, "phase"), im.get("phase", "all"), PHASES, "phase")
            bounds: dict[str, float] = {}
            for q in ("p50", "p95", "p99"):
                if q in im:
                    s = v.duration((*p, q), im[q], positive=True)
                    if s is not None:
                        bounds[f"{q}_ms"] = s * 1000
            if not any(q in im for q in ("p50", "p95", "p99")):
                v.err(p, "latency needs at least one bound: p50, p95 or p99 (e.g. p99: 500ms)")
                continue
            if region and phase:
                lat.append(LatencyCheck(region=region, phase=phase, **bounds))
        spec.latency = lat
    return spec


# ---------------------------------------------------------------- the document


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
    v = _V(src)
    data = src.data
    # `x-...` keys are free (docker-compose's convention): a place for YAML anchors.
    v.mapping(
        (), {k: x for k, x in data.items() if not k.startswith("x-")}, TOP_FIELDS, "the experiment"
    )

    name = data.get("name", source_path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        v.err(
            ("name",),
            f"name must be letters, digits, '.', '_' or '-' (it names the results directory); got {_show(name)}",
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        v.err(("description",), f"description must be text; got {_show(description)}")
        description = ""
    backend = v.choice(("backend",), data.get("backend", "local"), BACKENDS, "backend")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        v.err(("seed",), f"seed must be a whole number; got {_show(seed)}")
        seed = 0

    topology = _topology(v, data.get("topology"))
    system = _system(v, data.get("system"), backend)
    load = _load(v, data.get("load"))
    if system is not None and v.adapter_cls is not None:
        supported = getattr(v.adapter_cls, "workloads", None)
        if supported and load.workload not in supported:
            v.err(
                ("load", "workload"),
                f"system {system.kind!r} does not support workload {load.workload!r}; it supports {', '.join(supported)}",
            )
    links = _links(v, data.get("links"), backend)
    # With a broken topology, still check what can be checked against the regions read so far.
    schedule = _schedule(v, data.get("schedule")) if v.regions else []
    checks = _checks(v, data.get("checks"), load) if v.regions else ChecksSpec()

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
