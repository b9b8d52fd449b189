"""Sets of status codes (HTTP statuses, exit codes) as users write them in YAML:
a number, a range "400-499", or a class "4xx"."""

from __future__ import annotations

import re
from typing import Any

HINT = "a list of codes, ranges (400-499) or classes (4xx), e.g. [200, 201] or [4xx]"


def parse_codes(spec: Any) -> set[int]:
    """The codes `spec` names; ValueError (with HINT) when it is not such a list."""
    items = spec if isinstance(spec, list) else [spec]
    out: set[int] = set()
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"{item!r} is not a code; {HINT}")
        if isinstance(item, int):
            out.add(item)
            continue
        text = str(item).strip().lower()
        if m := re.fullmatch(r"([1-9])xx", text):
            out.update(range(int(m.group(1)) * 100, int(m.group(1)) * 100 + 100))
        elif m := re.fullmatch(r"(\d+)\s*-\s*(\d+)", text):
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ValueError(f"{item!r}: the range is empty; {HINT}")
            out.update(range(lo, hi + 1))
        elif text.isdigit():
            out.add(int(text))
        else:
            raise ValueError(f"{item!r} is not a code; {HINT}")
    return out


def check_codes(options: dict, name: str) -> list[tuple[str, str]]:
    """[(name, message)] when options[name] is present and not a valid code list."""
    if name not in options:
        return []
    try:
        parse_codes(options[name])
    except ValueError as e:
        return [(name, str(e))]
    return []
