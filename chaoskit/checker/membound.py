"""A bound on how much the process grows during one search.

Counting cached configurations bounds memory only if each one has a known size;
a `kv` state is a string that grows with every append (Porcupine's kv histories),
so 400k configurations of 10 KiB states are 4 GiB. The searches therefore also
look at the process's resident memory (Linux /proc/self/statm, read once every
few thousand search steps) and stop with "unknown" when it has grown by more
than the budget since the search began.
"""

from __future__ import annotations

import os

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """Resident set size of this process, or None where /proc is not available."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class RssBound:
    """`exceeded()` is True once the process has grown by more than `limit_bytes`
    since this object was made (never, where RSS cannot be read)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.base = rss_bytes()
        self.growth = 0

    def exceeded(self) -> bool:
        if self.base is None:
            return False
        now = rss_bytes()
        if now is None:
            return False
        self.growth = now - self.base
        return self.growth > self.limit

    def describe(self) -> str:
        return f"the process grew {self.growth / 2**20:.0f} MiB"
