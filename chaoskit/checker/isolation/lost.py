"""Lost transactions, counted like lost writes: list-append appends that were
acknowledged and then vanished.

Per key, the final read is the last `ok` transaction's read of the key marked
`"phase": "final"`, else the last `ok` read of it (by completion). An append is
LOST when its transaction completed `ok` before the final read's transaction was
invoked and the final read's list lacks the value; RECOVERED when its transaction
ended `info` and the final read has it; the final read holding a value nobody
appended (or whose transaction failed) is UNEXPECTED. The result is the lost-write
analysis's own dataclass, so RPO bounds (`checks.lost_writes`) judge transactional
runs as they judge register and set runs.
"""

from __future__ import annotations

from typing import Any

from chaoskit.checker.history import History, Op
from chaoskit.checker.lost_writes import LostWrite, LostWritesResult, Recovered, Unexpected


def analyse_lost_appends(history: History) -> LostWritesResult:
    res = LostWritesResult("list-append")
    final: dict[Any, tuple[Op, tuple]] = {}
    marked: dict[Any, tuple[Op, tuple]] = {}
    appends: dict[Any, list[tuple[Op, Any]]] = {}
    for op in history.ops:
        if op.f != "txn":
            continue
        mops = op.output if op.type == "ok" else op.value
        for f, k, v in mops or ():
            if f == "append":
                appends.setdefault(k, []).append((op, v))
            elif f == "r" and op.type == "ok":
                read = (op, tuple(v or ()))
                for chosen in (marked, final) if op.phase == "final" else (final,):
                    if k not in chosen or op.ret >= chosen[k][0].ret:
                        chosen[k] = read
    final.update(marked)
    res.keys_without_final_read = [k for k in appends if k not in final]
    for k, (fin, seen_list) in final.items():
        res.keys_checked += 1
        seen = set(seen_list)
        tried: set[Any] = set()
        for op, v in appends.get(k, []):
            if op.type == "fail":
                continue
            tried.add(v)
            if op.type != "ok":
                if v in seen:
                    res.recovered.append(Recovered(k, v, op.id, op.call_line, op.call_time))
                continue
            if op is fin or op.ret is None or op.ret >= fin.call:
                continue
            res.acknowledged += 1
            if v not in seen:
                res.lost.append(
                    LostWrite(
                        k,
                        v,
                        op.ret_time,
                        op.call_time,
                        op.process,
                        op.id,
                        op.call_line,
                        final_value=list(seen_list),
                        reason=f"acknowledged append missing from the final read of {k!r} "
                        f"(T{fin.id}, line {fin.call_line})",
                        region=op.region,
                        node=op.node,
                    )
                )
        for v in sorted(seen - tried, key=repr):
            res.unexpected.append(Unexpected(k, v, "no committed or pending append of it"))
    return res
