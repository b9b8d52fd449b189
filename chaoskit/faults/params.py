"""Parameter helpers: durations may arrive parsed (float seconds) or raw ("30ms")."""

from __future__ import annotations

import re
from typing import Any

_DUR = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?\s*$")
_UNIT_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def seconds(v: Any, field: str = "duration") -> float:
    """A duration in seconds: numbers are seconds, strings may carry a unit."""
    if isinstance(v, bool):
        raise ValueError(f"{field}: expected a duration like 500ms or 2s, got {v!r}")
    if isinstance(v, int | float):
        return float(v)
    m = _DUR.match(str(v))
    if not m:
        raise ValueError(f"{field}: expected a duration like 500ms or 2s, got {v!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def millis(v: Any, field: str = "duration") -> float:
    return seconds(v, field) * 1000.0
