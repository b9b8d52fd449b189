"""Processes seen from /proc: a process's state, whether it still runs, every
process below it. For checks that a run left no process behind."""

from __future__ import annotations

from pathlib import Path


def proc_state(pid: int) -> str | None:
    """The one-letter state of `pid` (R, S, T, Z, ...), or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name in parentheses may hold spaces or ")": split after the last one
    return raw.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    return proc_state(pid) not in (None, "Z")


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children files of every task, recursively)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            for k in kids:
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out
