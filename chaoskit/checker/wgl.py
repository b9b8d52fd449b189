"""The Wing–Gong linearizability search with Lowe's memoisation, for one partition.

The history is a doubly linked list of call and return entries in history order.
The search linearizes calls left to right: a call whose step is legal is "lifted"
(its call and return entries unlinked) and pushed on a stack; reaching the return
entry of an operation not yet linearized means the current prefix cannot be
extended, so the last choice is undone ("unlifted"). Lowe's cache remembers every
(linearized set, state) configuration already explored, so each is explored once;
the linearized set is a bitset held in a Python int.

Operations that never return (info, or still pending at the end) are linearized
like the others but are not required: the search succeeds as soon as every
required (ok) operation is linearized, which is the same as letting the pending
ones take effect late or never.

Arrays instead of node objects, and everything local to one function, because this
loop is the checker's hot path in CPython.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaoskit.checker.membound import RssBound
from chaoskit.checker.models import ILLEGAL

# "no value" for the value guard (None is a value: nil)
_NONE: Any = object()
# How many loop iterations between two looks at the clock.
_CLOCK_EVERY = 4096
# How many distinct states to remember at the failing operation.
_MAX_STATES = 16
# How many pending required reads the kv prefix rule looks at after a state change.
_PREFIX_READS = 4


@dataclass
class SearchResult:
    verdict: str  # "linearizable" | "not-linearizable" | "unknown"
    reason: str = ""
    # For a violation: the op (index into the partition's ops) that cannot be
    # linearized, the longest linearizable prefix found (op indices, in order), and
    # the states in which the search was stuck just before that op.
    failing: int | None = None
    prefix: list[int] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)
    # For a success: one linearization (op indices) of the required operations.
    order: list[int] = field(default_factory=list)
    steps: int = 0
    cache_size: int = 0


def _failed(
    best_op: int,
    best_prefix: Sequence[tuple[int, Any, int]],
    best_states: dict[Any, None],
    ent_op: list[int],
    steps: int,
    cache_size: int,
) -> SearchResult:
    return SearchResult(
        "not-linearizable",
        failing=best_op if best_op >= 0 else None,
        prefix=[ent_op[c] for c, _, _ in best_prefix],
        states=list(best_states),
        steps=steps,
        cache_size=cache_size,
    )


def _succeeded(
    stack: list[tuple[int, Any, int]], ent_op: list[int], steps: int, cache_size: int
) -> SearchResult:
    return SearchResult(
        "linearizable", order=[ent_op[c] for c, _, _ in stack], steps=steps, cache_size=cache_size
    )


def search(
    calls: Sequence[int],
    rets: Sequence[int | None],
    data: Sequence[Any],
    required: Sequence[bool],
    pure: Sequence[bool],
    step: Callable[[Any, Any], Any],
    init: Any,
    deadline: float,
    max_cache: int,
    inline: bool = False,
    lazy: Sequence[bool] | None = None,
    guard: bool = False,
    mem: RssBound | None = None,
) -> SearchResult:
    """Check one partition. `calls`/`rets` are history positions (ret None = never
    returns); `data[i]` is what `step` needs for op i; `required[i]` is True for ops
    that completed ok (they must be linearized); `pure[i]` is True for read-only ops.

    Reads commit: a pure op that is legal where it is met is linearized there for
    good: any linearization that places it later can move it here (it changes no
    state and every op that must precede it in real time is already linearized),
    so on backtracking past it the search keeps backtracking.

    Lazy writes (`lazy[i]`, only with `inline` op codes): a write that never
    returns is tried only immediately before a read or cas that needs the value it
    writes. Any linearization can be brought to that form: after such a write
    comes either an op that observes its value, or one that overwrites it (then
    the write can be dropped: it never returned, so it may never have happened).
    This removes most of the branching that pending writes cause.

    Twins: of the ops that never return and do the same thing (equal `data`),
    one called later is tried only once every earlier one is linearized. Any
    linearization can be brought to that form by swapping twins (the earlier one
    can take the later one's place: it was called before, and neither has a
    return to respect). Jepsen's etcd histories have many such pending writes
    and cas; this halves the search over the 102 of them.

    Value guard (`guard`, register op codes only): leaving state v is a dead end
    while some required op still has to observe v (a read of v, an ok cas
    expecting v) and no op that could write v again is left. Pruning those
    branches changes no verdict and cuts the search on contended keys.
    """
    n = len(calls)
    remaining = sum(1 for r in required if r)
    if remaining == 0:
        return SearchResult("linearizable")
    # Entries: 0 = head, 1..2n = calls and returns in history order, 2n+1 = tail.
    # Pending returns go after every real event, in op order.
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
    match = [-1] * size  # call entry -> its return entry; -1 for returns/tail
    call_entry = [0] * n
    for pos, (_, kind, i) in enumerate(events, 1):
        ent_op[pos] = i
        if kind == 0:
            call_entry[i] = pos
    for pos, (_, kind, i) in enumerate(events, 1):
        if kind == 1:
            match[call_entry[i]] = pos

    ent_pure = [False] * size
    ent_data: list[Any] = [None] * size
    ent_lazy = bytearray(size)
    lazy_by_value: dict[Any, list[int]] = {}
    for i in range(n):
        c = call_entry[i]
        ent_pure[c] = bool(pure[i])
        ent_data[c] = data[i]
        if inline and lazy is not None and lazy[i] and not required[i] and data[i][0] == 1:
            ent_lazy[c] = 1
            lazy_by_value.setdefault(data[i][1], []).append(c)
    has_lazy = bool(lazy_by_value)
    # Twins: ops that never return and do the same thing (same data) are
    # interchangeable once both are called, so of the twins still in the list only
    # the earliest called is tried; twin[c] is the call entry of c's previous twin.
    twin = [0] * size
    last_twin: dict[Any, int] = {}
    for _, kind, i in events:
        if kind == 0 and rets[i] is None and not pure[i]:
            c = call_entry[i]
            if ent_lazy[c]:
                continue
            try:
                prev = last_twin.get(data[i])
            except TypeError:  # unhashable data: no twins
                continue
            if prev is not None:
                twin[c] = prev
            last_twin[data[i]] = c
    has_twins = any(twin)
    # Prefix rule (string states built by appends, Porcupine's kv): at the return
    # entry of a required read, ret_obs holds the value it read; ent_reset marks
    # the calls that can do more than append: 1 a put (write), 2 anything else.
    ret_obs: list[Any] = [_NONE] * size
    ent_reset = bytearray(size)
    # (every state is then a string: kv's put values and appends are strings)
    prefix_rule = inline and isinstance(init, str) and any(d[0] == 5 for d in data)
    if prefix_rule:
        for i in range(n):
            c = call_entry[i]
            d = data[i]
            if not pure[i] and d[0] != 5:
                ent_reset[c] = 1 if d[0] == 1 and isinstance(d[1], str) else 2
            if required[i] and pure[i] and d[0] == 0 and isinstance(d[1], str):
                ret_obs[match[c]] = d[1]
    in_list = bytearray(b"\x01") * size  # call entry not lifted
    # value guard: per call entry the value it must observe / may write
    ent_obs: list[Any] = [_NONE] * size
    ent_wr: list[Any] = [_NONE] * size
    obs_left: dict[Any, int] = {}  # value -> required observers not yet linearized
    wr_left: dict[Any, int] = {}  # value -> ops that may still write it
    if guard and inline:
        for i in range(n):
            c = call_entry[i]
            d = data[i]
            k = d[0]
            if required[i] and (k == 0 or k == 2):
                ent_obs[c] = d[1]
                obs_left[d[1]] = obs_left.get(d[1], 0) + 1
            if k == 1:
                ent_wr[c] = d[1]
                wr_left[d[1]] = wr_left.get(d[1], 0) + 1
            elif k == 2 or k == 3:
                ent_wr[c] = d[2]
                wr_left[d[2]] = wr_left.get(d[2], 0) + 1
    else:
        guard = False

    state = init
    lin = 0
    # (entry, state before it, tag): tag -1 plain, -2 a lazy write, j >= 0 the op
    # that the lazy write below it was paired with (j = index of that candidate)
    stack: list[tuple[int, Any, int]] = []
    push = stack.append
    pop = stack.pop
    cache: set[tuple[int, Any]] = set()
    cache_add = cache.add
    best_depth = -1
    best_prefix: tuple[tuple[int, Any, int], ...] = ()
    best_op = -1
    best_states: dict[Any, None] = {}
    steps = 0
    clock = _CLOCK_EVERY
    now = time.monotonic

    e = nxt[0]
    fresh = True  # a configuration entered for the first time
    pair_from = -1  # >= 0: resume pairing the op at `e` with lazy candidate #pair_from
    while True:
        steps += 1
        clock -= 1
        if clock == 0:
            clock = _CLOCK_EVERY
            if now() > deadline:
                return SearchResult(
                    "unknown",
                    reason="time limit reached",
                    steps=steps,
                    cache_size=len(cache),
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
            # Reads first: if a read among the callable ops is legal now, this
            # configuration succeeds iff it does after that read, so commit to it.
            fresh = False
            x = e
            r = match[x]
            while r >= 0:
                if ent_pure[x] and (
                    ent_data[x][1] == state if inline else step(state, ent_data[x]) is not ILLEGAL
                ):
                    break
                x = nxt[x]
                r = match[x]
            if prefix_rule and stack and state is not stack[-1][1]:
                # The state changed (an append or a put). A required read can be
                # preceded only by ops called before it returns; if none of them can
                # reset the value (a put of a prefix of what it read, or an op other
                # than append and put), it must see this value extended by appends.
                # The first few such reads in history order are the likeliest to
                # rule the new state out; looking at all of them costs more than it
                # saves (it cuts c50-ok's search from ~380k steps to ~24k).
                y = nxt[0]
                puts = None
                budget = _PREFIX_READS
                while y != tail:
                    if match[y] >= 0:
                        k = ent_reset[y]
                        if k:
                            if k == 2:
                                break
                            if puts is None:
                                puts = [ent_data[y][1]]
                            else:
                                puts.append(ent_data[y][1])
                    else:
                        g = ret_obs[y]
                        if g is not _NONE:
                            if not g.startswith(state):
                                if puts is None or not any(g.startswith(pv) for pv in puts):
                                    break
                            budget -= 1
                            if budget == 0:
                                y = tail
                                break
                    y = nxt[y]
                if y != tail and match[y] < 0:
                    e = y
                    r = -1
                    x = y
            if r < 0 and prefix_rule:
                # x is the first return entry: its op must be linearized before any
                # op called after it, so only the ops before x can precede it. When
                # they only append and put, a read there sees the present value or a
                # put's, extended by appends; if it cannot, this is a dead end, found
                # now rather than after trying every order of those ops.
                g = ret_obs[x]
                if g is not _NONE and not g.startswith(state):
                    y = nxt[0]
                    while y != x:
                        k = ent_reset[y]
                        if k and (k == 2 or g.startswith(ent_data[y][1])):
                            break  # a put (or another op) that may lead to g
                        y = nxt[y]
                    if y == x:
                        e = x  # fall through to the return entry below: backtrack
            if r >= 0:
                i = ent_op[x]
                nl = lin | (1 << i)
                n0 = len(cache)
                cache_add((nl, state))
                if len(cache) == n0:
                    # Already explored after this read, and it failed: so does this.
                    while match[x] >= 0:
                        x = nxt[x]
                    e = x
                    continue
                push((x, state, -1))
                lin = nl
                in_list[x] = 0
                if guard and ent_obs[x] is not _NONE:
                    obs_left[ent_obs[x]] -= 1
                p = prv[x]
                q = nxt[x]
                nxt[p] = q
                prv[q] = p
                p = prv[r]
                q = nxt[r]
                nxt[p] = q
                prv[q] = p
                if required[i]:
                    remaining -= 1
                    if remaining == 0:
                        return _succeeded(stack, ent_op, steps, len(cache))
                e = nxt[0]
                fresh = True
                continue
        r = match[e]
        if r >= 0:
            i = ent_op[e]
            d = ent_data[e]
            if pair_from < 0:
                if ent_lazy[e]:
                    e = nxt[e]  # tried only together with an op that needs it
                    continue
                if has_twins and twin[e] and in_list[twin[e]]:
                    e = nxt[e]  # its earlier twin is still to be placed: that one first
                    continue
                if ent_pure[e]:
                    ns = ILLEGAL  # illegal here, or the look-ahead would have taken it
                elif inline:
                    # models.py's op codes, evaluated here rather than via step()
                    k = d[0]
                    if k == 1:
                        ns = d[1]
                    elif k == 2:
                        ns = d[2] if d[1] == state else ILLEGAL
                    elif k == 5:
                        ns = state + d[1]
                    elif k == 3:
                        ns = d[2] if d[1] == state else state
                    elif k == 4:
                        ns = state if d[1] in state else state | {d[1]}
                    else:
                        ns = step(state, d)
                else:
                    ns = step(state, d)
                if (
                    guard
                    and ns is not ILLEGAL
                    and ns != state
                    and not wr_left.get(state, 0)
                    and obs_left.get(state, 0) > (1 if ent_obs[e] == state else 0)
                ):
                    ns = ILLEGAL  # others must still read this state: dead end
                if ns is not ILLEGAL:
                    nl = lin | (1 << i)
                    n0 = len(cache)
                    cache_add((nl, ns))  # one hash: add, then see whether it was new
                    if len(cache) != n0:
                        push((e, state, -1))
                        state = ns
                        lin = nl
                        in_list[e] = 0
                        if guard:
                            v = ent_obs[e]
                            if v is not _NONE:
                                obs_left[v] -= 1
                            v = ent_wr[e]
                            if v is not _NONE:
                                wr_left[v] -= 1
                        # lift: unlink the call entry, then its return entry
                        p = prv[e]
                        q = nxt[e]
                        nxt[p] = q
                        prv[q] = p
                        p = prv[r]
                        q = nxt[r]
                        nxt[p] = q
                        prv[q] = p
                        if required[i]:
                            remaining -= 1
                            if remaining == 0:
                                return _succeeded(stack, ent_op, steps, len(cache))
                        e = nxt[0]
                        fresh = True
                        continue
                    e = nxt[e]
                    continue
                if not has_lazy:
                    e = nxt[e]
                    continue
                start = 0
            else:
                start = pair_from
                pair_from = -1
            # Illegal alone: try a lazy write of the value it needs right before it.
            k = d[0]
            if k == 0 or k == 2:
                cands = lazy_by_value.get(d[1])
                if cands is not None:
                    # candidates must be called before the first pending return
                    x = nxt[e]
                    while match[x] >= 0:
                        x = nxt[x]
                    v = d[1]
                    ns = v if k == 0 else d[2]
                    paired = False
                    if guard and (
                        # leaving `state`, or leaving v again after this op
                        (not wr_left.get(state, 0) and obs_left.get(state, 0))
                        or (ns != v and wr_left.get(v, 0) <= 1 and obs_left.get(v, 0) > 1)
                    ):
                        cands = ()
                    for j in range(start, len(cands)):
                        w = cands[j]
                        if w < x and in_list[w]:
                            nl = lin | (1 << i) | (1 << ent_op[w])
                            n0 = len(cache)
                            cache_add((nl, ns))
                            if len(cache) == n0:
                                continue
                            push((w, state, -2))
                            in_list[w] = 0
                            if guard:
                                wr_left[v] -= 1  # w writes v (lazy writes observe nothing)
                            rw = match[w]
                            p = prv[w]
                            q = nxt[w]
                            nxt[p] = q
                            prv[q] = p
                            p = prv[rw]
                            q = nxt[rw]
                            nxt[p] = q
                            prv[q] = p
                            push((e, v, j))
                            in_list[e] = 0
                            if guard:
                                vv = ent_obs[e]
                                if vv is not _NONE:
                                    obs_left[vv] -= 1
                                vv = ent_wr[e]
                                if vv is not _NONE:
                                    wr_left[vv] -= 1
                            p = prv[e]
                            q = nxt[e]
                            nxt[p] = q
                            prv[q] = p
                            p = prv[r]
                            q = nxt[r]
                            nxt[p] = q
                            prv[q] = p
                            state = ns
                            lin = nl
                            if required[i]:
                                remaining -= 1
                                if remaining == 0:
                                    return _succeeded(stack, ent_op, steps, len(cache))
                            paired = True
                            break
                    if paired:
                        e = nxt[0]
                        fresh = True
                        continue
            e = nxt[e]
            continue
        # A return entry (or the tail): the op it belongs to is not linearized yet.
        depth = len(stack)
        blocked = ent_op[e] if e != tail else -1
        if depth > best_depth:
            best_depth = depth
            best_prefix = tuple(stack)
            best_op = blocked
            best_states = {state: None}
        elif blocked == best_op and len(best_states) < _MAX_STATES:
            best_states[state] = None
        if not stack:
            return _failed(best_op, best_prefix, best_states, ent_op, steps, len(cache))
        while True:
            e, state, tag = pop()
            i = ent_op[e]
            lin ^= 1 << i
            if required[i]:
                remaining += 1
            # unlift: relink the return entry, then the call entry (reverse order)
            r = match[e]
            p = prv[r]
            q = nxt[r]
            nxt[p] = r
            prv[q] = r
            p = prv[e]
            q = nxt[e]
            nxt[p] = e
            prv[q] = e
            in_list[e] = 1
            if guard:
                v = ent_obs[e]
                if v is not _NONE:
                    obs_left[v] += 1
                v = ent_wr[e]
                if v is not _NONE:
                    wr_left[v] += 1
            if tag >= 0:
                # undo its lazy partner too, then try the next candidate for it
                w, state, _ = pop()
                lin ^= 1 << ent_op[w]
                rw = match[w]
                p = prv[rw]
                q = nxt[rw]
                nxt[p] = rw
                prv[q] = rw
                p = prv[w]
                q = nxt[w]
                nxt[p] = w
                prv[q] = w
                in_list[w] = 1
                if guard:
                    wr_left[ent_wr[w]] += 1
                pair_from = tag + 1
                break
            if not ent_pure[e]:
                e = nxt[e]
                break
            if not stack:
                return _failed(best_op, best_prefix, best_states, ent_op, steps, len(cache))
