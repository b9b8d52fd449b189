"""Lost-write analysis (the RPO oracle) for set and register histories.

Set (f add / read-all), per key:
- the final read is the last `ok` read-all of the key marked `"phase": "final"`,
  else the last `ok` read-all of the key;
- lost: an `ok` add that completed before the final read was invoked and whose
  element the final read lacks;
- recovered: an `info` (or never completed) add whose element the final read has;
- unexpected: an element of the final read that no add ever tried (or whose add
  `fail`ed, i.e. certainly did not happen).

Register (f write / cas / read, unique written values), per key: the final read
F is chosen the same way (the last `ok` read marked final, else the last `ok`
read). Let v be F's value. An acknowledged write W (an `ok` write, or the new
value of an `ok` cas) completed before F was invoked is LOST when every write of
v completed before W was invoked (the initial nil counts as written at time
-infinity): W is ordered after v's write in real time, yet v survived, so W's
effect vanished. A value written by an `info` write never proves anything lost
(it may have taken effect at any time). recovered: `info` writes of v;
unexpected: a final value nobody wrote. Keys without a final read are listed in
`keys_without_final_read` and judged for nothing.

kv (get/put, unique put values) follows the register rule with put as write and
get as read; appends are not judged (an append's effect is not one value).
list-append transactions: chaoskit/checker/isolation/lost.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chaoskit.checker.history import History, Op

WORKLOADS = ("set", "register", "cas-register", "kv", "list-append")


@dataclass
class LostWrite:
    key: Any
    value: Any
    ack_time_ns: int | None  # when the write was acknowledged (its ok completion)
    invoke_time_ns: int | None
    process: Any
    op_id: int
    line: int
    final_value: Any = None  # register: what the final read returned
    observed: bool = False  # register: some read returned this value before the end
    reason: str = ""
    region: str | None = None  # where the write was made (the client's region)
    node: str | None = None  # the node that acknowledged it


@dataclass
class Recovered:
    key: Any
    value: Any
    op_id: int
    line: int
    invoke_time_ns: int | None


@dataclass
class Unexpected:
    key: Any
    value: Any
    reason: str


@dataclass
class LostWritesResult:
    workload: str
    lost: list[LostWrite] = field(default_factory=list)
    recovered: list[Recovered] = field(default_factory=list)
    unexpected: list[Unexpected] = field(default_factory=list)
    acknowledged: int = 0
    keys_checked: int = 0
    keys_without_final_read: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.unexpected

    def oldest_lost(self) -> LostWrite | None:
        timed = [w for w in self.lost if w.ack_time_ns is not None]
        return min(timed, key=lambda w: w.ack_time_ns) if timed else None

    def summary(self) -> str:
        if not self.lost:
            s = f"no acknowledged writes lost ({self.acknowledged} acknowledged)"
        else:
            s = f"{len(self.lost)} acknowledged write(s) lost of {self.acknowledged}"
            o = self.oldest_lost()
            if o is not None and o.ack_time_ns is not None:
                s += f"; the oldest acknowledged at {o.ack_time_ns / 1e9:.3f} s"
        if self.recovered:
            s += f"; {len(self.recovered)} indeterminate write(s) present"
        if self.unexpected:
            s += f"; {len(self.unexpected)} unexpected value(s)"
        if self.keys_without_final_read:
            s += f"; {len(self.keys_without_final_read)} key(s) without a final read"
        return s

    def to_dict(self) -> dict[str, Any]:
        def j(x: Any) -> Any:
            if isinstance(x, tuple):
                return [j(y) for y in x]
            if isinstance(x, frozenset | set):
                return sorted((j(y) for y in x), key=repr)
            if isinstance(x, dict):
                return {k: j(v) for k, v in x.items()}
            if isinstance(x, list):
                return [j(y) for y in x]
            return x

        return j(
            {
                "workload": self.workload,
                "acknowledged": self.acknowledged,
                "keys_checked": self.keys_checked,
                "lost_count": len(self.lost),
                "lost": [asdict(w) for w in self.lost],
                "recovered": [asdict(w) for w in self.recovered],
                "unexpected": [asdict(w) for w in self.unexpected],
                "keys_without_final_read": list(self.keys_without_final_read),
                "summary": self.summary(),
            }
        )


def _final_reads(ops: list[Op], f: str) -> dict[Any, Op]:
    final: dict[Any, Op] = {}
    marked: dict[Any, Op] = {}
    for op in ops:
        if op.f != f or op.type != "ok":
            continue
        if op.phase == "final":
            if op.key not in marked or op.ret > marked[op.key].ret:
                marked[op.key] = op
        if op.key not in final or op.ret > final[op.key].ret:
            final[op.key] = op
    final.update(marked)
    return final


def analyse_lost_writes(history: History, workload: str) -> LostWritesResult:
    """Lost / recovered / unexpected writes (see the module doc for the rules)."""
    if workload == "set":
        return _analyse_set(history)
    if workload in ("register", "cas-register", "kv"):
        return _analyse_register(history, workload)
    if workload == "list-append":  # transactions: appends acknowledged, then gone
        from chaoskit.checker.isolation.lost import analyse_lost_appends

        return analyse_lost_appends(history)
    raise ValueError(f"unknown workload {workload!r}; valid: {', '.join(WORKLOADS)}")


def _analyse_set(history: History) -> LostWritesResult:
    res = LostWritesResult("set")
    final = _final_reads(history.ops, "read-all")
    by_key: dict[Any, list[Op]] = {}
    for op in history.ops:
        if op.f == "add":
            by_key.setdefault(op.key, []).append(op)
    for key in by_key:
        if key not in final:
            res.keys_without_final_read.append(key)
    for key, fin in final.items():
        res.keys_checked += 1
        present = set(fin.output or ())
        attempted: set[Any] = set()
        failed: set[Any] = set()
        for op in by_key.get(key, []):
            if op.type == "fail":
                failed.add(op.value)
                continue
            attempted.add(op.value)
            if op.type == "ok":
                if op.ret is not None and op.ret < fin.call:
                    res.acknowledged += 1
                    if op.value not in present:
                        res.lost.append(
                            LostWrite(
                                key,
                                op.value,
                                op.ret_time,
                                op.call_time,
                                op.process,
                                op.id,
                                op.call_line,
                                reason="acknowledged add missing from the final read",
                                region=op.region,
                                node=op.node,
                            )
                        )
            elif op.value in present:
                res.recovered.append(Recovered(key, op.value, op.id, op.call_line, op.call_time))
        for v in sorted(present - attempted, key=repr):
            why = "its add failed (certainly not applied)" if v in failed else "never added"
            res.unexpected.append(Unexpected(key, v, why))
    return res


def _analyse_register(history: History, workload: str) -> LostWritesResult:
    res = LostWritesResult(workload)
    final = _final_reads(history.ops, "get" if workload == "kv" else "read")
    writes: dict[Any, list[tuple[Op, Any]]] = {}  # key -> (op, value written)
    read_values: dict[Any, list[tuple[int, Any]]] = {}  # key -> (ret position, value)
    for op in history.ops:
        if op.f in ("write", "put") and op.type != "fail":
            writes.setdefault(op.key, []).append((op, op.value))
        elif op.f == "cas" and op.type != "fail" and isinstance(op.value, tuple):
            writes.setdefault(op.key, []).append((op, op.value[1]))
        elif op.f in ("read", "get") and op.type == "ok":
            read_values.setdefault(op.key, []).append((op.ret, op.output))
    for key in writes:
        if key not in final:
            res.keys_without_final_read.append(key)
    for key, fin in final.items():
        res.keys_checked += 1
        v = fin.output
        ws = writes.get(key, [])
        writers = [op for op, val in ws if val == v]
        seen = {val for pos, val in read_values.get(key, []) if pos < fin.call}
        if v is not None and not writers:
            res.unexpected.append(Unexpected(key, v, "final read returned a value nobody wrote"))
            continue
        # The latest invocation-independent bound: v's writers all completed by `bound`
        # (None = some writer is indeterminate or unfinished: nothing is provable).
        if v is None:
            bound: float | None = -1.0
        elif all(op.type == "ok" and op.ret is not None for op in writers):
            bound = max(op.ret for op in writers)
        else:
            bound = None
        for op in writers:
            if op.type != "ok":
                res.recovered.append(Recovered(key, v, op.id, op.call_line, op.call_time))
        for op, val in ws:
            if op.type != "ok" or op.ret is None or op.ret >= fin.call:
                continue
            res.acknowledged += 1
            if val == v or bound is None:
                continue
            if bound < op.call:
                res.lost.append(
                    LostWrite(
                        key,
                        val,
                        op.ret_time,
                        op.call_time,
                        op.process,
                        op.id,
                        op.call_line,
                        final_value=v,
                        observed=val in seen,
                        reason=(
                            "the final read returned nil (never written) after this write "
                            "was acknowledged"
                            if v is None
                            else f"the final read returned {v!r}, written by a write that "
                            "completed before this acknowledged write was invoked"
                        ),
                        region=op.region,
                        node=op.node,
                    )
                )
    return res
