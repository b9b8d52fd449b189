"""Transactions out of a history: the `f: "txn"` operations, their micro-operations
checked for shape.

A transaction's value is a list of micro-operations `[f, key, value]` as Jepsen and
Elle write them: `["r", "x", null]` invoked, `["r", "x", [1, 2]]` (list-append) or
`["r", "x", 5]` (rw-register) completed; `["append", "x", 3]`; `["w", "x", 5]`.
An `ok` transaction is described by its completion (reads filled in); a `fail` or
`info` one by its invocation (a `fail` certainly did not commit; an `info` may have).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaoskit.checker.history import History, HistoryError

Mop = tuple[str, Any, Any]
MOP_FS = ("r", "append", "w")


@dataclass(slots=True)
class Txn:
    """One transaction. `id` is its operation index in the history (T<id> in
    explanations); `call`/`ret` are record positions (`ret` None unless ok);
    `line` is where it was invoked, `ret_line` where it completed."""

    id: int
    process: Any
    type: str
    mops: tuple[Mop, ...]
    call: int
    ret: int | None
    line: int
    ret_line: int | None

    @property
    def name(self) -> str:
        return f"T{self.id}"


def transactions(history: History, writes: tuple[str, ...] = ("append", "w")) -> list[Txn]:
    """Every `txn` operation of `history`, in invocation order.

    Raises HistoryError for a history that holds other operations or a micro-operation
    of the wrong shape, naming the line and what is valid.
    """
    txns: list[Txn] = []
    for op in history.ops:
        if op.f != "txn":
            raise HistoryError(
                op.call_line,
                f'operation {op.f!r} in a transactional history; valid: f "txn" with a '
                "list of [f, key, value] micro-operations",
                history.path,
            )
        ok = op.type == "ok"
        value = op.output if ok else op.value
        line = (op.ret_line if ok else op.call_line) or op.call_line
        mops = _mops(value, line, history.path, writes)
        txns.append(
            Txn(
                id=op.id,
                process=op.process,
                type=op.type,
                mops=mops,
                call=op.call,
                ret=op.ret if ok else None,
                line=op.call_line,
                ret_line=op.ret_line,
            )
        )
    return txns


def _mops(value: Any, line: int, path: str | None, writes: tuple[str, ...]) -> tuple[Mop, ...]:
    if not isinstance(value, tuple):
        raise HistoryError(
            line,
            f"txn value is {value!r}; expected a list of [f, key, value] micro-operations",
            path,
        )
    valid = ("r", *writes)
    out: list[Mop] = []
    for n, mop in enumerate(value):
        if not (isinstance(mop, tuple) and len(mop) == 3):
            raise HistoryError(
                line, f"micro-operation {n} is {mop!r}; expected [f, key, value]", path
            )
        f, k, v = mop
        if f not in valid:
            raise HistoryError(
                line, f"micro-operation {n} has f {f!r}; valid here: {', '.join(valid)}", path
            )
        out.append((f, k, v))
    return tuple(out)
