"""Parsing of the scalar value forms experiments use: durations and rates.

Durations: `30s`, `2m`, `500ms`, `1.5s`, `250us`, `1h`, compounds like `1m30s`;
signed forms (`-2s`, `+500ms`) where a parameter allows them (clock offsets).
A bare number is rejected: "30" could mean seconds or milliseconds, and a wrong
guess silently changes the experiment. Rates: `200`, `200/s`, `6000/m`.
"""

from __future__ import annotations

import re

_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h)")
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(s|sec|m|min))?\s*$")

DURATION_HINT = "a duration with a unit, e.g. 30s, 2m, 500ms, 1.5s, 1m30s"


def parse_duration(value: object, signed: bool = False) -> float:
    """Seconds from a duration string; raises ValueError saying what would be valid."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if not isinstance(value, str):
        if value == 0:
            return 0.0
        raise ValueError(f"{value!r} has no unit; write {DURATION_HINT}")
    text = value.strip()
    sign = 1.0
    if text[:1] in "+-" and text:
        if not signed:
            if text[0] == "-":
                raise ValueError(f"{value!r} is negative; a duration must be >= 0 (e.g. 30s)")
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:].strip()
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS_S[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"{value!r} is not {DURATION_HINT}")
    return sign * total


def parse_rate(value: object) -> float:
    """Operations per second from `200`, `200/s`, `6000/m`; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a rate like 200 or 200/s, got {value!r}")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str) and (m := _RATE.match(value)):
        rate = float(m.group(1)) / (60.0 if m.group(2) in ("m", "min") else 1.0)
    else:
        raise ValueError(f"expected a rate like 200 or 200/s or 6000/m, got {value!r}")
    if rate <= 0:
        raise ValueError(f"a rate must be > 0, got {value!r}")
    return rate


def format_duration(seconds: float) -> str:
    """The shortest readable duration string for `seconds` (for resolved documents)."""
    if seconds == 0:
        return "0s"
    if abs(seconds) < 1 and round(seconds * 1000, 3) == round(seconds * 1000):
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
