"""Histories of a really linearizable register, for property tests and benchmarks.

Each operation takes effect atomically at a random moment between its invocation
and its completion on a real in-memory register per key; some clients crash
(their operation completes as `info`, before or after taking effect) and go on as
a new process, as Jepsen's clients do.
"""

from __future__ import annotations

import random


def simulate(
    seed: int,
    n_ops: int,
    n_procs: int,
    keys: int = 1,
    cas: bool = True,
    crash_rate: float = 0.05,
) -> list[tuple]:
    """A real register per key; each op takes effect atomically at a random moment
    between its invocation and completion; some clients crash (info) before or
    after the effect, and continue as a new process."""
    rng = random.Random(seed)
    reg: dict[str, int | None] = {f"k{i}": None for i in range(keys)}
    events: list[tuple] = []
    # process slot -> [process id, f, key, value, applied?, result]
    running: dict[int, list] = {}
    next_pid = n_procs
    pids = list(range(n_procs))
    started = 0
    counter = 0
    while started < n_ops or running:
        choices = []
        idle = [s for s in range(n_procs) if s not in running]
        if idle and started < n_ops:
            choices.append("invoke")
        if running:
            choices += ["apply", "complete", "complete"]
        c = rng.choice(choices)
        if c == "invoke":
            s = rng.choice(idle)
            key = f"k{rng.randrange(keys)}"
            x = rng.random()
            if x < 0.4:
                f, v = "read", None
            elif x < 0.75 or not cas:
                counter += 1
                f, v = "write", counter
            else:
                counter += 1
                f, v = "cas", [rng.choice([reg[key], counter - 1, None]), counter]
            events.append((pids[s], "invoke", f, v, key))
            running[s] = [pids[s], f, key, v, False, None]
            started += 1
        elif c == "apply":
            s = rng.choice(list(running))
            op = running[s]
            if not op[4]:
                op[4] = True
                pid, f, key, v = op[:4]
                if f == "read":
                    op[5] = ("ok", reg[key])
                elif f == "write":
                    reg[key] = v
                    op[5] = ("ok", v)
                else:
                    if reg[key] == v[0]:
                        reg[key] = v[1]
                        op[5] = ("ok", v)
                    else:
                        op[5] = ("fail", v)
        else:
            s = rng.choice(list(running))
            pid, f, key, v, applied, result = running[s]
            crash = rng.random() < (crash_rate if applied else crash_rate * 0.4)
            if crash or not applied:
                if not crash:
                    continue  # must take effect before it can complete
                # crashed: it may or may not have taken effect
                events.append((pid, "info", f, v, key))
                pids[s] = next_pid
                next_pid += 1
            else:
                typ, out = result
                events.append((pid, typ, f, out, key))
            del running[s]
    return events


def simulate_set(
    seed: int, n_ops: int, n_procs: int, keys: int = 1, crash_rate: float = 0.05
) -> list[tuple]:
    """Like `simulate`, for a grow-only set per key: add of unique elements and
    read-all (value = the sorted elements)."""
    rng = random.Random(seed)
    sets: dict[str, set[int]] = {f"s{i}": set() for i in range(keys)}
    events: list[tuple] = []
    running: dict[int, list] = {}
    next_pid = n_procs
    pids = list(range(n_procs))
    started = 0
    counter = 0
    while started < n_ops or running:
        idle = [s for s in range(n_procs) if s not in running]
        choices = []
        if idle and started < n_ops:
            choices.append("invoke")
        if running:
            choices += ["apply", "complete", "complete"]
        c = rng.choice(choices)
        if c == "invoke":
            s = rng.choice(idle)
            key = f"s{rng.randrange(keys)}"
            if rng.random() < 0.3:
                f, v = "read-all", None
            else:
                counter += 1
                f, v = "add", counter
            events.append((pids[s], "invoke", f, v, key))
            running[s] = [pids[s], f, key, v, False, None]
            started += 1
        elif c == "apply":
            op = running[rng.choice(list(running))]
            if not op[4]:
                op[4] = True
                if op[1] == "add":
                    sets[op[2]].add(op[3])
                    op[5] = op[3]
                else:
                    op[5] = sorted(sets[op[2]])
        else:
            s = rng.choice(list(running))
            pid, f, key, v, applied, result = running[s]
            crash = rng.random() < (crash_rate if applied else crash_rate * 0.4)
            if not crash and not applied:
                continue
            if crash:
                events.append((pid, "info", f, v, key))
                pids[s] = next_pid
                next_pid += 1
            else:
                events.append((pid, "ok", f, result, key))
            del running[s]
    return events
