"""A monotonic clock that libfaketime cannot skew.

chaoskit skews a node's wall clock with libfaketime, which fakes every clock the
C library hands out, CLOCK_MONOTONIC included (measured: under an offset file,
time.monotonic() equals the faked wall time and jumps with it). A real system's
timeouts and failure detectors run on a monotonic clock that NTP-style skew never
moves, so geokv reads CLOCK_MONOTONIC through the raw clock_gettime system call,
below the library libfaketime interposes on. Only `time.time()` (lww stamps) is
meant to be skewed. Falls back to time.monotonic() where the syscall is unknown.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

_SYS_CLOCK_GETTIME = {"x86_64": 228, "amd64": 228, "aarch64": 113, "arm64": 113}
_CLOCK_MONOTONIC = 1


def _raw_monotonic() -> Callable[[], float] | None:
    nr = _SYS_CLOCK_GETTIME.get(platform.machine().lower())
    if nr is None:
        return None
    try:
        import ctypes
    except ImportError:  # a python3 built without ctypes
        return None

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None

    def mono() -> float:
        ts = Timespec()
        if syscall(nr, _CLOCK_MONOTONIC, ctypes.byref(ts)) != 0:
            return time.monotonic()
        return ts.tv_sec + ts.tv_nsec * 1e-9

    try:
        a = mono()
        b = mono()
    except Exception:  # noqa: BLE001 - any trouble: use the library clock
        return None
    return mono if 0 <= b - a < 1.0 else None


monotonic: Callable[[], float] = _raw_monotonic() or time.monotonic
