"""Where libfaketime is on this host, and whether an experiment needs it.

Clock faults (chaoskit.faults.clock) skew a node's wall clock with libfaketime
(LD_PRELOAD). Only an experiment whose schedule holds a clock fault needs the
library; a node is started under it only then (`SystemContext.clock_faults`).
The lookup takes a directory so that callers (and `--libfaketime-dir`) can point
it elsewhere, e.g. at an empty directory to see what a host without it does.
"""

from __future__ import annotations

import glob
from pathlib import Path

LIB_NAME = "libfaketime.so.1"
DEFAULT_ROOT = Path("/usr/lib")


def search_patterns(root: str | Path | None = None) -> list[str]:
    """The glob patterns tried under `root`, in order (Debian: <root>/<triplet>/faketime/)."""
    base = Path(root) if root is not None else DEFAULT_ROOT
    return [
        str(base / LIB_NAME),
        str(base / "faketime" / LIB_NAME),
        str(base / "*/faketime" / LIB_NAME),
    ]


def find_libfaketime(root: str | Path | None = None) -> str | None:
    """The path of libfaketime.so.1 under `root` (default /usr/lib), or None."""
    for pattern in search_patterns(root):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def missing_message(root: str | Path | None = None) -> str:
    """Why clock faults cannot run here, and what to do about it."""
    where = " or ".join(search_patterns(root))
    return (
        f"libfaketime is not installed ({where} not found); clock faults skew a node's "
        "clock with it: apt-get install libfaketime, run on the docker backend (its image "
        "has it), or remove the clock fault"
    )
