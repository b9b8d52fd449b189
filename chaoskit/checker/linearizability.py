"""check_linearizable: P-compositional WGL over a History, with a verdict in words."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.checker.history import History, HistoryError, Op
from chaoskit.checker.membound import RssBound
from chaoskit.checker.models import ILLEGAL, Model, get_model, guess_model, show
from chaoskit.checker.parallel import ordered_map
from chaoskit.checker.wgl import SearchResult, search
from chaoskit.checker.wgl_set import search_set

VERDICTS = ("linearizable", "not-linearizable", "unknown")
# Default bound on cached configurations (each is a (bitset, state) pair); beyond
# it the verdict is "unknown" rather than an out-of-memory death.
DEFAULT_MEMORY_MB = 1024
# Time allowed to re-search a violation without the value guard, for a plainer
# explanation (see check_linearizable).
_EXPLAIN_S = 2.0
# Below this many operations a history is checked in one process even when more
# are allowed: forking and collecting results would cost more than they save.
PARALLEL_MIN_OPS = 1_000


@dataclass
class KeyResult:
    key: Any
    verdict: str
    ops: int
    elapsed_s: float
    reason: str = ""


@dataclass
class Violation:
    key: Any
    op: Op | None
    prefix: list[Op]
    states: list[Any]
    whys: list[str]
    conflicting: list[Op]


@dataclass
class LinearizabilityResult:
    verdict: str
    model: str
    keys_checked: int
    elapsed_s: float
    failing_key: Any = None
    explanation: str = ""
    reason: str = ""  # for "unknown": why (time limit, memory bound)
    per_key: list[KeyResult] = field(default_factory=list)
    violation: Violation | None = None
    ops: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict == "linearizable"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "verdict": self.verdict,
            "model": self.model,
            "ops": self.ops,
            "keys_checked": self.keys_checked,
            "elapsed_s": round(self.elapsed_s, 6),
            "failing_key": _jsonable(self.failing_key),
            "explanation": self.explanation,
            "reason": self.reason,
            "keys": [
                {
                    "key": _jsonable(k.key),
                    "verdict": k.verdict,
                    "ops": k.ops,
                    "elapsed_s": round(k.elapsed_s, 6),
                    **({"reason": k.reason} if k.reason else {}),
                }
                for k in self.per_key
            ],
        }
        v = self.violation
        if v is not None:
            d["violation"] = {
                "key": _jsonable(v.key),
                "op": _op_dict(v.op) if v.op else None,
                "prefix_length": len(v.prefix),
                "prefix_tail": [_op_dict(o) for o in v.prefix[-10:]],
                "states": [_jsonable(s) for s in v.states],
                "why": v.whys,
                "conflicting": [_op_dict(o) for o in v.conflicting],
            }
        return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, frozenset | set):
        return sorted((_jsonable(x) for x in v), key=repr)
    return v


def _op_dict(op: Op) -> dict[str, Any]:
    return {
        "id": op.id,
        "process": _jsonable(op.process),
        "type": op.type,
        "f": op.f,
        "key": _jsonable(op.key),
        "value": _jsonable(op.value),
        "output": _jsonable(op.output),
        "line": op.call_line,
        "return_line": op.ret_line,
        "call_time": op.call_time,
        "ret_time": op.ret_time,
    }


def describe_op(model: Model, op: Op) -> str:
    t = ""
    if op.call_time is not None:
        t = f", invoked at {op.call_time / 1e9:.3f} s"
        if op.ret is not None and op.ret_time is not None:
            t += f", returned at {op.ret_time / 1e9:.3f} s"
    status = "" if op.type == "ok" else f" ({op.type}: may have taken effect late)"
    where = f"line {op.call_line}" + (f"-{op.ret_line}" if op.ret_line else "")
    return f"op #{op.id} process {show(op.process)} {model.describe_op(op)}{status} [{where}{t}]"


def partition(history: History, model: Model) -> dict[Any, list[Op]]:
    parts: dict[Any, list[Op]] = {}
    for op in history.ops:
        parts.setdefault(model.partition(op), []).append(op)
    return parts


def check_linearizable(
    history: History,
    model: str | Model = "auto",
    timeout_s: float = 60.0,
    initial: Any = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    jobs: int = 1,
) -> LinearizabilityResult:
    """Judge a history: "linearizable", "not-linearizable" or "unknown".

    Keys are checked independently (P-compositionality); the first key with a
    violation ends the check. `timeout_s` bounds the whole check; `memory_mb`
    bounds the search cache (both give "unknown" when reached). With `jobs` > 1
    the keys of a big history are checked in that many forked processes (only
    from a process without other threads; see parallel.py); the verdict and
    explanation are the ones a single process gives.
    Raises HistoryError for operations the model does not understand.
    """
    t0 = time.monotonic()
    deadline = t0 + max(0.0, timeout_s)
    if isinstance(model, str) and model == "auto":
        model = guess_model({op.f for op in history.ops})
    m = get_model(model)
    for op in history.ops:
        if op.f not in m.fs:
            raise model_f_error(m, op.f, op.call_line, history.path)
    init = m.init(initial)
    parts = partition(history, m)
    # Smaller keys first: a violation is found sooner and cheaper on average.
    keys = sorted(parts.items(), key=lambda kv: len(kv[1]))

    def one(i: int) -> tuple[KeyResult, Violation | None]:
        key, ops = keys[i]
        return _check_key(m, key, ops, init, deadline, memory_mb, history.path)

    spread = jobs > 1 and len(keys) > 1 and len(history.ops) >= PARALLEL_MIN_OPS
    return judge_keys(m, one, len(keys), len(history.ops), jobs if spread else 1, deadline, t0)


def model_f_error(m: Model, f: str, line: int, path: str | None) -> HistoryError:
    return HistoryError(
        line,
        f"f {f!r} is not an operation of model {m.name} (its operations: "
        f"{', '.join(sorted(m.fs))})",
        path,
    )


def judge_keys(
    m: Model,
    one: Callable[[int], tuple[KeyResult, Violation | None]],
    n_keys: int,
    n_ops: int,
    jobs: int,
    deadline: float,
    t0: float,
) -> LinearizabilityResult:
    """The verdict over keys 0..n_keys-1 (`one(i)` checks key i), the first
    violation in that order ending the check."""
    result = LinearizabilityResult(
        verdict="linearizable", model=m.name, keys_checked=0, elapsed_s=0.0, ops=n_ops
    )
    unknown_reasons: list[str] = []
    # Handed out smallest first, as one process checks them: a violation in a small
    # key ends the check before the big keys (which may run to the time limit) matter.
    outcomes = ordered_map(one, n_keys, jobs)
    with contextlib.closing(outcomes):
        for kr, violation in outcomes:
            result.keys_checked += 1
            result.per_key.append(kr)
            if kr.verdict == "unknown":
                unknown_reasons.append(f"key {show(kr.key)}: {kr.reason}")
                if time.monotonic() > deadline:
                    break
                continue
            if kr.verdict == "not-linearizable":
                assert violation is not None
                result.verdict = "not-linearizable"
                result.failing_key = kr.key
                result.violation = violation
                result.explanation = _explain(m, violation, n_keys > 1)
                break
    if result.verdict != "not-linearizable":
        if unknown_reasons:
            result.verdict = "unknown"
            result.reason = "; ".join(unknown_reasons[:5])
            skipped = n_keys - result.keys_checked
            if skipped:
                result.reason += f"; {skipped} key(s) not checked"
            result.explanation = f"unknown: {result.reason}"
        else:
            result.explanation = f"linearizable: {n_ops} operations over {n_keys} key(s)"
    result.elapsed_s = time.monotonic() - t0
    return result


def _check_key(
    m: Model,
    key: Any,
    ops: list[Op],
    init: Any,
    deadline: float,
    memory_mb: int,
    path: str | None,
) -> tuple[KeyResult, Violation | None]:
    """One key's sub-history: its verdict, and the violation when there is one."""
    k0 = time.monotonic()
    kept: list[Op] = []
    data: list[Any] = []
    for op in ops:
        try:
            d = m.prepare(op)
        except ValueError as e:
            raise HistoryError(op.call_line, str(e).split(": ", 1)[-1], path) from e
        if d is None:
            continue
        kept.append(op)
        data.append(d)
    keep = m.prune(kept, data)
    if not all(keep):
        kept = [o for o, k in zip(kept, keep, strict=True) if k]
        data = [d for d, k in zip(data, keep, strict=True) if k]
    pre = m.precheck(kept, data, init)
    if pre is not None:
        idx, why = pre
        violation = _violation(m, key, kept, SearchResult("not-linearizable", failing=idx), init)
        violation.whys = [why]
        return KeyResult(key, "not-linearizable", len(kept), time.monotonic() - k0), violation
    # Bytes per cached configuration: tuple + bitset int + a share of the set.
    per_entry = 160 + len(kept) // 8
    max_cache = max(10_000, memory_mb * 1024 * 1024 // per_entry)
    # States of varying size (kv strings) escape that count: also bound the
    # process's growth during the search (membound.py).
    mem_bytes = memory_mb * 1024 * 1024
    calls = [op.call for op in kept]
    rets = [op.ret if op.type == "ok" else None for op in kept]
    required = [op.type == "ok" for op in kept]
    if m.strategy == "set":
        res = search_set(
            calls, rets, data, required, init, deadline, max_cache, mem=RssBound(mem_bytes)
        )
    else:
        args = dict(
            calls=calls,
            rets=rets,
            data=data,
            required=required,
            pure=[m.pure(d) for d in data],
            step=m.step,
            init=init,
            max_cache=max_cache,
            inline=m.inline,
            lazy=m.lazy(kept, data) if m.inline else None,
        )
        guard = m.value_guard and m.inline
        res = search(**args, deadline=deadline, guard=guard, mem=RssBound(mem_bytes))
        if (
            res.verdict == "not-linearizable"
            and guard
            and res.failing is not None
            and kept[res.failing].f not in ("read", "get", "read-all")
        ):
            # The value guard blames the op that would strand a later read
            # (e.g. the write before a stale read). For the explanation,
            # search briefly without it to blame the read itself, as Knossos
            # and Porcupine do; the verdict is the same either way.
            plain = search(
                **args,
                deadline=min(deadline, time.monotonic() + _EXPLAIN_S),
                guard=False,
                mem=RssBound(mem_bytes),
            )
            if plain.verdict == "not-linearizable":
                res = plain
    kr = KeyResult(key, res.verdict, len(kept), time.monotonic() - k0, res.reason)
    if res.verdict == "not-linearizable":
        return kr, _violation(m, key, kept, res, init)
    return kr, None


def _violation(m: Model, key: Any, kept: list[Op], res: Any, init: Any) -> Violation:
    op = kept[res.failing] if res.failing is not None else None
    prefix = [kept[i] for i in res.prefix]
    whys: list[str] = []
    if op is not None:
        d = m.prepare(op)
        done = {o.id for o in prefix}
        data = [m.prepare(o) for o in kept] if m.value_guard else []
        for s in res.states:
            if m.step(s, d) is ILLEGAL:
                why = m.why(s, op)
                if m.value_guard:
                    why += _must_stay(m, s, op, kept, data, done)
                whys.append(why)
            else:
                whys.append(
                    f"when the {m.describe_state(s)} it could take effect, but then no order "
                    "of the remaining operations works"
                )
    conflicting: list[Op] = []
    if op is not None:
        # The ops a reader should look at next to the failing one: completed ops
        # overlapping it, the last few that completed before it was invoked, and
        # the end of the longest linearizable prefix. (Pending ops overlap
        # everything; they are shown only when they are in that prefix tail.)
        end = op.ret if op.ret is not None else float("inf")
        chosen: dict[int, Op] = {}
        for o in kept:
            if o is not op and o.ret is not None and o.call < end and op.call < o.ret:
                chosen[o.id] = o
        before = sorted(
            (o for o in kept if o.ret is not None and o.ret < op.call), key=lambda o: o.ret
        )
        for o in before[-3:] + prefix[-5:]:
            if o is not op:
                chosen[o.id] = o
        conflicting = sorted(chosen.values(), key=lambda o: o.call)
    return Violation(key, op, prefix, list(res.states), whys, conflicting[:50])


def _must_stay(m: Model, s: Any, op: Op, kept: list[Op], data: list[Any], done: set[int]) -> str:
    """Registers: say so when the state may not change at all (a later op still
    reads it and nothing left can write it again) - the search's value guard."""
    readers = [
        o
        for o, d in zip(kept, data, strict=True)
        if o.type == "ok" and o.id not in done and o is not op and d[0] in (0, 2) and d[1] == s
    ]
    writers = [
        o
        for o, d in zip(kept, data, strict=True)
        if o.id not in done and (d[0] == 1 and d[1] == s or d[0] in (2, 3) and d[2] == s)
    ]
    out = ""
    mine = m.prepare(op)
    if mine is not None and mine[0] in (0, 2):
        want = mine[1]
        if not any(
            o.id not in done and (d[0] == 1 and d[1] == want or d[0] in (2, 3) and d[2] == want)
            for o, d in zip(kept, data, strict=True)
        ):
            out += f"; no remaining operation writes {show(want)} (its writes are used up)"
    if readers and not writers:
        r = readers[0]
        out += (
            f"; and it must stay {show(s)}: op #{r.id} (process {show(r.process)}, line "
            f"{r.call_line}) still reads {show(s)} and no remaining operation writes it"
        )
    return out


def _explain(m: Model, v: Violation, many_keys: bool) -> str:
    lines = []
    head = "not linearizable"
    if many_keys or v.key is not None:
        head += f" on key {show(v.key)}"
    lines.append(head + ".")
    if v.op is None:
        lines.append("No operation could be linearized.")
        return "\n".join(lines)
    lines.append(f"This operation cannot be linearized: {describe_op(m, v.op)}.")
    n = len(v.prefix)
    if n == 0 and v.states:
        lines.append("Not even the first operation can be linearized from the initial state.")
    elif n:
        lines.append(f"The longest linearizable prefix found has {n} operation(s); it ends with:")
        for o in v.prefix[-5:]:
            lines.append(f"  {describe_op(m, o)}")
    if v.states:
        shown = ", ".join(m.describe_state(s) for s in v.states[:8])
        lines.append(f"Just before it, every order the search tried leaves: {shown}.")
        for w in dict.fromkeys(v.whys[:8]):
            lines.append(f"  - {w}")
    elif v.whys:
        lines.append("No order can make it legal: " + v.whys[0] + ".")
    return "\n".join(lines)
