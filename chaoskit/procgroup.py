"""Signalling a process group that may already be gone.

Every package that starts a process in its own group (nodes, the link server, Locust)
ends it with `killpg_quiet`: a group that has exited, or was reaped by another
thread in the meantime, is not an error during teardown.
"""

from __future__ import annotations

import os
import signal


def killpg_quiet(pgid: int, sig: int = signal.SIGKILL) -> None:
    """os.killpg(pgid, sig), ignoring a group that is gone or not ours to signal."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
