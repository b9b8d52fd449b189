"""The game day's terminal language, parsed into plain actions.

    apply cut-region region=beijing             apply a fault (parameters as key=value)
    apply latency links="{region: xian}" rtt=300ms
    apply partition groups="[[beijing], [xian]]"
    heal g1 | heal all                          heal one fault, or every active one
    status                                      topology, links, active faults
    end                                         heal everything, check, report
    help

Values are read as YAML (`[[a], [b]]` is a list, `{region: x}` a mapping, `300ms`
stays a string for the experiment validator); quote a value that has spaces.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

HELP = __doc__.split("\n\n")[1]
VERBS = ("apply", "heal", "status", "end", "help")


class CommandError(ValueError):
    """A line that is not a game-day command; the message says what would be valid."""


@dataclass
class Action:
    verb: str  # apply | heal | status | end | help
    fault: str | None = None  # apply: the fault kind
    params: dict[str, Any] = field(default_factory=dict)  # apply: its parameters
    target: str | None = None  # heal: a fault id or "all"


def parse_value(text: str) -> Any:
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if v is None else v


def parse_command(line: str) -> Action | None:
    """One terminal line -> Action (None for a blank line or a comment)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise CommandError(f"cannot read {line!r}: {e}") from None
    verb, args = words[0].lower(), words[1:]
    if verb not in VERBS:
        raise CommandError(f"unknown command {verb!r}; commands: {', '.join(VERBS)}")
    if verb == "apply":
        if not args:
            raise CommandError("apply needs a fault, e.g. `apply cut-region region=beijing`")
        params: dict[str, Any] = {}
        for a in args[1:]:
            key, sep, value = a.partition("=")
            if not sep or not key:
                raise CommandError(f"apply: {a!r} is not key=value (e.g. region=beijing)")
            params[key] = parse_value(value)
        return Action("apply", fault=args[0], params=params)
    if verb == "heal":
        if len(args) != 1:
            raise CommandError("heal needs one fault id or `all`, e.g. `heal g1` or `heal all`")
        return Action("heal", target=args[0])
    if args:
        raise CommandError(f"{verb} takes no arguments")
    return Action(verb)
