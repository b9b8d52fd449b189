"""Durations, rates and clock offsets: the one parser and the one formatter of each.

Durations: `30s`, `2m`, `500ms`, `1.5s`, `250us`, `1h`, compounds like `1m30s`;
signed forms (`-2s`, `+500ms`) where a value allows them (clock offsets).
A bare number is rejected everywhere (experiment files, fault parameters, check
bounds, command-line options): "30" could mean seconds or milliseconds, and a
wrong guess silently changes the experiment; `0` alone is accepted.
Once parsed, a duration is a float of seconds; `seconds()` accepts either form.
Rates: `200`, `200/s`, `6000/m`. Offsets are written in libfaketime's syntax.
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


def seconds(value: object, field: str = "duration", *, signed: bool = True) -> float:
    """Seconds from a parsed duration (a number: already seconds) or a duration string.

    Raises ValueError prefixed with `field`.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_duration(value, signed=signed)
    except ValueError as e:
        raise ValueError(f"{field}: {e}") from None


def millis(value: object, field: str = "duration") -> float:
    """Like `seconds`, in milliseconds."""
    return seconds(value, field) * 1000.0


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


def format_offset(offset_ms: float | None) -> str:
    """A clock offset in libfaketime's relative syntax, signed seconds: '+0.5', '-2', '+0'."""
    if not offset_ms:
        return "+0"
    text = f"{offset_ms / 1000.0:+.6f}".rstrip("0").rstrip(".")
    return text if text not in ("+", "-") else "+0"
