"""WGL for grow-only sets, with every add placed lazily.

Adds commute with each other, so any linearization of a set history can be
brought to a normal form in which each add sits either
- in the group of adds right before the first read-all that contains its element, or
- at its deadline: right before the first op invoked after it returned (an add
  that never returned has no deadline: it may never have happened).

The search therefore never branches on adds alone: at a configuration it tries
(after committing to a legal read, as in wgl.search) each callable read-all
together with the group of callable adds it is missing, and when the scan meets
the return entry of an unlinearized add, that add is linearized there. With
unique elements the group is unique; with duplicates the callable add that
returns first is used. This is what keeps 20 concurrent clients adding to one
set tractable, where plain WGL explores subsets of the concurrent adds.

Same list/stack layout as wgl.search (see there). The set's state is a function
of which adds are linearized, so the cache holds the linearized bitsets alone and
the current set is one mutable set (with a count per element, for duplicate
adds) updated in place: no set is copied or hashed per step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from chaoskit.checker.membound import RssBound
from chaoskit.checker.wgl import _CLOCK_EVERY, _MAX_STATES, SearchResult, _failed, _succeeded

READ = 0


def search_set(
    calls: Sequence[int],
    rets: Sequence[int | None],
    data: Sequence[Any],
    required: Sequence[bool],
    init: frozenset,
    deadline: float,
    max_cache: int,
    mem: RssBound | None = None,
) -> SearchResult:
    """`data[i]` is (READ, frozenset, None) for a read-all, (ADD, element, None) for an add."""
    n = len(calls)
    remaining = sum(1 for r in required if r)
    if remaining == 0:
        return SearchResult("linearizable")
    big = (max(calls) if n else 0) + 1
    events = []
    for i in range(n):
        events.append((calls[i], 0, i))
        r = rets[i]
        events.append((r if r is not None else big + i, 1, i))
    events.sort()
    size = 2 * n + 2
    tail = size - 1
    nxt = list(range(1, size + 1))
    prv = list(range(-1, size - 1))
    ent_op = [0] * size
    match = [-1] * size
    call_entry = [0] * n
    for pos, (_, kind, i) in enumerate(events, 1):
        ent_op[pos] = i
        if kind == 0:
            call_entry[i] = pos
    ret_entry = [0] * n
    for pos, (_, kind, i) in enumerate(events, 1):
        if kind == 1:
            match[call_entry[i]] = pos
            ret_entry[i] = pos
    is_read = [d[0] == READ for d in data]
    # element -> call entries of its adds, earliest return first
    adds_of: dict[Any, list[int]] = {}
    for i in sorted(range(n), key=lambda i: ret_entry[i]):
        if not is_read[i]:
            adds_of.setdefault(data[i][1], []).append(call_entry[i])
    in_list = bytearray(b"\x01") * size

    cur: set[Any] = set(init)
    count: dict[Any, int] = dict.fromkeys(init, 1)

    def add_el(el: Any) -> None:
        c = count.get(el, 0)
        count[el] = c + 1
        if c == 0:
            cur.add(el)

    def remove_el(el: Any) -> None:
        c = count[el] - 1
        if c:
            count[el] = c
        else:
            del count[el]
            cur.discard(el)

    lin = 0
    # (entry, state before, tag): -1 plain/committed read, -3 add at its deadline,
    # -2 add of a group, g >= 0 a read-all preceded by its group of g adds
    stack: list[tuple[int, Any, int]] = []
    push = stack.append
    pop = stack.pop
    cache: set[int] = set()
    cache_add = cache.add
    best_depth = -1
    best_prefix: tuple[tuple[int, Any, int], ...] = ()
    best_op = -1
    best_states: dict[Any, None] = {}
    samples = 0
    steps = 0
    clock = _CLOCK_EVERY
    now = time.monotonic

    def lift(x: int) -> None:
        in_list[x] = 0
        r = match[x]
        p = prv[x]
        q = nxt[x]
        nxt[p] = q
        prv[q] = p
        p = prv[r]
        q = nxt[r]
        nxt[p] = q
        prv[q] = p

    def unlift(x: int) -> None:
        r = match[x]
        p = prv[r]
        q = nxt[r]
        nxt[p] = r
        prv[q] = r
        p = prv[x]
        q = nxt[x]
        nxt[p] = x
        prv[q] = x
        in_list[x] = 1

    e = nxt[0]
    fresh = True
    front = -1  # first return entry of the current configuration (-1: not known)
    front_adds = 0
    while True:
        steps += 1
        clock -= 1
        if clock == 0:
            clock = _CLOCK_EVERY
            if now() > deadline:
                return SearchResult(
                    "unknown", reason="time limit reached", steps=steps, cache_size=len(cache)
                )
            if len(cache) > max_cache or (mem is not None and mem.exceeded()):
                return SearchResult(
                    "unknown",
                    reason=f"memory bound reached ({len(cache)} cached configurations"
                    + (f", {mem.describe()})" if mem is not None and mem.growth else ")"),
                    steps=steps,
                    cache_size=len(cache),
                )
        if fresh:
            # Commit to a legal read-all, if one is callable (see wgl.search).
            fresh = False
            x = e
            while match[x] >= 0:
                if is_read[ent_op[x]] and cur == data[ent_op[x]][1]:
                    break
                x = nxt[x]
            if match[x] >= 0:
                i = ent_op[x]
                nl = lin | (1 << i)
                n0 = len(cache)
                cache_add(nl)
                if len(cache) == n0:
                    while match[x] >= 0:
                        x = nxt[x]
                    e = x
                    continue
                push((x, None, -1))
                lin = nl
                lift(x)
                remaining -= 1
                if remaining == 0:
                    return _succeeded(stack, ent_op, steps, len(cache))
                e = nxt[0]
                fresh = True
                front = -1
                continue
        if match[e] >= 0:
            i = ent_op[e]
            if not is_read[i]:
                e = nxt[e]  # adds only in a group or at their deadline
                continue
            want = data[i][1]
            if front < 0:
                # the first pending return bounds which adds are callable; count
                # them once per configuration for a cheap size test below
                front_adds = 0
                front = nxt[0]
                while match[front] >= 0:
                    if not is_read[ent_op[front]]:
                        front_adds += 1
                    front = nxt[front]
            need = len(want) - len(cur)
            if need < 0 or need > front_adds or not cur <= want:
                e = nxt[e]
                continue
            x = front
            group = []
            for el in want - cur:
                for c in adds_of.get(el, ()):
                    if c < x and in_list[c]:
                        group.append(c)
                        break
                else:
                    group = None
                    break
            if group:
                nl = lin | (1 << i)
                for c in group:
                    nl |= 1 << ent_op[c]
                n0 = len(cache)
                cache_add(nl)
                if len(cache) != n0:
                    for c in group:
                        push((c, None, -2))
                        lift(c)
                        add_el(data[ent_op[c]][1])
                        if required[ent_op[c]]:
                            remaining -= 1
                    push((e, None, len(group)))
                    lift(e)
                    remaining -= 1
                    lin = nl
                    if remaining == 0:
                        return _succeeded(stack, ent_op, steps, len(cache))
                    e = nxt[0]
                    fresh = True
                    front = -1
                    continue
            e = nxt[e]
            continue
        # A return entry: its op is not linearized yet.
        blocked = ent_op[e] if e != tail else -1
        if blocked >= 0 and not is_read[blocked]:
            # an add at its deadline: linearize it here
            c = call_entry[blocked]
            nl = lin | (1 << blocked)
            n0 = len(cache)
            cache_add(nl)
            if len(cache) != n0:
                push((c, None, -3))
                lift(c)
                add_el(data[blocked][1])
                lin = nl
                if required[blocked]:
                    remaining -= 1
                    if remaining == 0:
                        return _succeeded(stack, ent_op, steps, len(cache))
                e = nxt[0]
                fresh = True
                front = -1
                continue
        depth = len(stack)
        if depth > best_depth:
            best_depth = depth
            best_prefix = tuple(stack)
            best_op = blocked
            best_states = {frozenset(cur): None}
            samples = 0
        elif blocked == best_op and samples < 4 * _MAX_STATES and len(best_states) < _MAX_STATES:
            samples += 1  # copying the set is O(n): sample a few
            best_states[frozenset(cur)] = None
        front = -1
        while True:
            if not stack:
                return _failed(best_op, best_prefix, best_states, ent_op, steps, len(cache))
            x, _s, tag = pop()
            i = ent_op[x]
            lin ^= 1 << i
            if required[i]:
                remaining += 1
            unlift(x)
            if not is_read[i]:
                remove_el(data[i][1])
            if tag >= 0:
                for _ in range(tag):
                    c, _s, _t = pop()
                    ic = ent_op[c]
                    lin ^= 1 << ic
                    if required[ic]:
                        remaining += 1
                    unlift(c)
                    remove_el(data[ic][1])
                e = nxt[x]  # other read-alls of this configuration
                break
            # a committed read or an add at its deadline: this configuration had
            # no other option, keep backtracking
