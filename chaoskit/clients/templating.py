"""Placeholders in client requests and how answers become values.

A request template names the operation's parts in braces: `{key}`, `{value}`
(write/add), `{expected}` and `{new}` (cas), plus `{host}` and `{port}` of the node
the client talks to. Only these names are replaced; every other brace (a JSON
body) is left alone. How a value is written depends on where it goes: JSON in an
HTTP body, URL-quoted in a path, plain text in an argv word.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

OPERATIONS = ("read", "write", "cas", "add", "read-all")
# Which placeholders each operation fills (host and port always).
FILLED: dict[str, tuple[str, ...]] = {
    "read": ("key",),
    "read-all": ("key",),
    "write": ("key", "value"),
    "add": ("key", "value"),
    "cas": ("key", "expected", "new"),
}
_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
# Answers that mean "no value" in the systems' own words (redis-cli, psql, JSON).
NO_VALUE = ("", "null", "nil", "(nil)", "None")


def unknown_placeholders(template: str, op: str) -> list[str]:
    """Placeholders in `template` that operation `op` does not fill."""
    allowed = set(FILLED.get(op, ())) | {"host", "port"}
    return [n for n in _NAME.findall(template) if n not in allowed]


def fields(op: str, key: str, value: Any, host: str, port: int) -> dict[str, Any]:
    """The placeholder values of one operation."""
    out: dict[str, Any] = {"key": key, "host": host, "port": port}
    if op == "cas":
        expected, new = value
        out.update(expected=expected, new=new)
    elif op in ("write", "add"):
        out["value"] = value
    return out


def render(template: str, values: dict[str, Any], quote: Callable[[Any], str]) -> str:
    """`template` with every known placeholder replaced by `quote(value)`."""

    def sub(m: re.Match) -> str:
        name = m.group(1)
        return quote(values[name]) if name in values else m.group(0)

    return _NAME.sub(sub, template)


def as_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def as_json(v: Any) -> str:
    return json.dumps(v)


def as_url(v: Any) -> str:
    return urllib.parse.quote(as_text(v), safe="")


def parse_value(text: str) -> Any:
    """An answer as a value: JSON when it parses (`5` -> 5), None for the usual
    "nothing here" words, else the stripped text."""
    s = text.strip()
    if s in NO_VALUE:
        return None
    try:
        return json.loads(s)
    except ValueError:
        return s


def parse_set(text: str) -> list[Any]:
    """A read-all answer: a JSON list, or one element per line / word."""
    s = text.strip()
    try:
        v = json.loads(s) if s else []
    except ValueError:
        v = None
    if isinstance(v, list):
        return v
    return [parse_value(w) for w in s.split()]


def dig(doc: Any, path: str) -> Any:
    """`doc` at a dotted path ("value", "node.value", "items.0"); KeyError if absent."""
    for part in path.split(".") if path else []:
        if isinstance(doc, list) and part.isdigit():
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def check_operations(
    options: dict[str, Any], check_one: Callable[[str, Any], list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """Problems of a client's operation templates: none described, or what
    check_one(op, template) finds in each one given."""
    problems: list[tuple[str, str]] = []
    if not any(op in options for op in OPERATIONS):
        problems.append(
            ("", f"no operation described; give at least read and write ({', '.join(OPERATIONS)})")
        )
    for op in OPERATIONS:
        if op in options:
            problems += check_one(op, options[op])
    return problems
