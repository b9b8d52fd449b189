"""The client operations as pure functions over one key's value (stdlib only).

A register holds any JSON value; a set is stored as {"$set": [elements]} so a key
cannot silently be both. `apply` never mutates its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPS = ("read", "write", "cas", "add", "read-all")
READ_ONLY = frozenset({"read", "read-all"})
SET_TAG = "$set"


class OpError(ValueError):
    """The operation cannot apply to the current value (certainly no effect)."""


@dataclass
class Applied:
    new: Any  # the key's value after the operation
    result: Any  # what the client gets back
    changed: bool


def check(f: Any, key: Any, value: Any) -> str | None:
    """A reason the request is malformed, or None."""
    if f not in OPS:
        return f"'f' is {f!r}; valid: {', '.join(OPS)}"
    if not isinstance(key, str) or not key or len(key) > 1024:
        return "'key' must be a non-empty string of at most 1024 characters"
    if f == "cas" and not (isinstance(value, list) and len(value) == 2):
        return "cas needs 'value' = [expected, new]"
    if f == "add" and isinstance(value, dict | list):
        return "add needs a scalar 'value' (string, number, bool or null)"
    return None


def is_set(v: Any) -> bool:
    return isinstance(v, dict) and SET_TAG in v and len(v) == 1


def apply(f: str, cur: Any, value: Any) -> Applied:
    if f in ("read", "write", "cas") and is_set(cur):
        raise OpError("key holds a set; use add/read-all")
    if f in ("add", "read-all") and cur is not None and not is_set(cur):
        raise OpError("key holds a register; use read/write/cas")
    if f == "read":
        return Applied(cur, cur, False)
    if f == "write":
        return Applied(value, value, True)
    if f == "cas":
        expected, new = value
        if cur != expected:
            raise OpError(f"cas mismatch: expected {expected!r}, current value is {cur!r}")
        return Applied(new, value, True)
    elems = list(cur[SET_TAG]) if cur is not None else []
    if f == "read-all":
        return Applied(cur, elems, False)
    if value in elems:
        return Applied(cur, value, False)
    return Applied({SET_TAG: elems + [value]}, value, True)
