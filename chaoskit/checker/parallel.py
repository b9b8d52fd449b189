"""Independent checks spread over forked processes.

The keys of one history are independent (P-compositionality: a history is
linearizable iff each key's sub-history is). `ordered_map` runs `fn(i)` for every
index in a pool of forked processes and yields the results in index order, so
that verdicts and explanations are the ones one process gives. Forking shares
the parent's parsed history with the children for free; only results travel
back (pickled), which is why whole files are not spread this way: shipping a
parsed history back costs about as much as checking it.

Forking is safe only in a process without other threads: the CLI uses it; the
library's default is one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

_TASK: Callable[[int], Any] | None = None  # inherited by the forked children


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_jobs() -> int:
    """One process per CPU not already busy (1-minute load average): on a machine
    whose CPUs are all taken, more processes only add forking and copying."""
    try:
        busy = round(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, cpu_count() - busy)


def _run(i: int) -> tuple[bool, Any]:
    import pickle

    assert _TASK is not None
    try:
        return True, _TASK(i)
    except Exception as e:  # re-raised in the parent, in order
        try:
            pickle.dumps(e)
        except Exception:
            e = RuntimeError(f"{type(e).__name__}: {e}")
        return False, e


def ordered_map(
    fn: Callable[[int], T], n: int, jobs: int, hand_out: Sequence[int] | None = None
) -> Iterator[T]:
    """fn(0), ..., fn(n-1) in `jobs` forked processes, yielded in index order.

    `hand_out` is the order the tasks are given to the processes (biggest first
    balances the load). An exception from fn(i) is raised when result i is
    reached. Leaving the iteration early stops the processes.
    """
    global _TASK
    if jobs <= 1 or n <= 1:
        for i in range(n):
            yield fn(i)
        return
    import multiprocessing  # here: most checks never fork, and it is a slow import

    _TASK = fn
    pool = multiprocessing.get_context("fork").Pool(min(jobs, n))
    try:
        handles = {i: pool.apply_async(_run, (i,)) for i in (hand_out or range(n))}
        for i in range(n):
            ok, value = handles[i].get()
            if not ok:
                raise value
            yield value
    finally:
        pool.terminate()
        pool.join()
        _TASK = None
