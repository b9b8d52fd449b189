"""Validation state shared by the section validators, and the wording helpers.

A `Context` collects the problems found (file, line, field, message) and what
earlier sections resolved (regions, zones, nodes, the system adapter, the load
duration) so that later sections can check references against them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from chaoskit.experiment.source import PathT, Source, dotted
from chaoskit.experiment.spec import ValidationError
from chaoskit.load.plan import WORKLOADS as WORKLOADS
from chaoskit.units import DURATION_HINT, parse_duration

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
    "txn",
)
LINKS_FIELDS = ("server", "image", "url")
BACKENDS = ("local", "docker")
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


def suggest(word: str, options: Iterable[str]) -> str:
    m = difflib.get_close_matches(str(word), [str(o) for o in options], n=2, cutoff=0.6)
    return f"did you mean {' or '.join(repr(x) for x in m)}? " if m else ""


class Context:
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
        self.backend: str | None = None
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

    @staticmethod
    def show(value: Any) -> str:
        """How a value is named in a message."""
        return show(value)

    # -- shapes --
    def mapping(self, path: PathT, value: Any, fields: Iterable[str], what: str) -> dict | None:
        """`value` as a mapping whose keys are all in `fields` (unknown keys reported)."""
        fields = list(fields)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(
                path,
                f"{what} must be a mapping with fields {', '.join(fields)}; got {show(value)}",
            )
            return None
        for key in value:
            if key not in fields:
                if FIELD_HINTS.get(key) in fields:
                    hint = f"did you mean {FIELD_HINTS[key]!r}? "
                else:
                    hint = suggest(key, fields)
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
            self.err(path, f"expected {kind}{range_text(lo, hi, lo_exclusive)}, got {show(value)}")
            return None
        if (lo is not None and (value < lo or (lo_exclusive and value == lo))) or (
            hi is not None and value > hi
        ):
            self.err(path, f"expected {kind}{range_text(lo, hi, lo_exclusive)}, got {value}")
            return None
        return value

    def choice(
        self, path: PathT, value: Any, choices: Iterable[str], what: str = "value"
    ) -> str | None:
        choices = list(choices)
        if not isinstance(value, str) or value not in choices:
            hint = suggest(value, choices) if isinstance(value, str) else ""
            self.err(path, f"unknown {what} {show(value)}; {hint}valid: {', '.join(choices)}")
            return None
        return value

    def region(self, path: PathT, value: Any, *, allow: tuple[str, ...] = ()) -> str | None:
        if isinstance(value, str) and (value in self.regions or value in allow):
            return value
        extra = f" or {', '.join(repr(a) for a in allow)}" if allow else ""
        hint = suggest(value, self.regions) if isinstance(value, str) else ""
        if isinstance(value, str):
            msg = f"region {value!r} does not exist; {hint}regions of this experiment: {', '.join(self.regions) or '(none)'}{extra}"
        else:
            msg = f"expected a region name{extra}, got {show(value)}; regions: {', '.join(self.regions)}"
        self.err(path, msg)
        return None


def show(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "nothing"
    return repr(v)


def range_text(lo: float | None, hi: float | None, lo_exclusive: bool) -> str:
    if lo is not None and hi is not None:
        return f" from {lo:g} to {hi:g}"
    if lo is not None:
        return f" {'>' if lo_exclusive else '>='} {lo:g}"
    if hi is not None:
        return f" <= {hi:g}"
    return ""


# ---------------------------------------------------------------- topology
