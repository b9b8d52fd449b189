"""libfaketime specs for clocks that run at a rate (drift), shared by the backends.

libfaketime's "+OFFSET xRATE" makes a process's clock read
``S + (t - S) * RATE + OFFSET`` where ``S`` is when the library started in that
process (its start, to a few milliseconds) and ``t`` the real time; the rate stays
in force until a later spec names another one (a plain "+0" keeps it), so the way
back to real time is "+0 x1". To start drifting *now* without a jump, the offset
cancels what the rate would have added since ``S``:
``OFFSET = current offset - (now - S) * (RATE - 1)``. ``S`` comes from the
process's start time in /proc (10 ms ticks): the clock jumps by at most a few
milliseconds times (RATE - 1) when the drift starts (measured: 5 ms at x1.5).
"""

from __future__ import annotations

import os
import time

REAL_TIME = "+0 x1"


def process_start_epoch(pid: int) -> float:
    """When process `pid` started, in epoch seconds (from /proc, 10 ms resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.time() - age


def drift_spec(pid: int, offset_ms: float, rate: float) -> str:
    """The spec that makes process `pid` read real time + offset_ms now, running at `rate`."""
    if rate <= 0:
        raise ValueError(f"a clock rate must be > 0, got {rate}")
    since = time.time() - process_start_epoch(pid)
    offset_s = offset_ms / 1000.0 - since * (rate - 1.0)
    return f"{offset_s:+.6f} x{rate:.6f}"
