"""The history model: records (one per line of history.jsonl) paired into operations.

A record is Jepsen's shape (docs/contracts.md). Pairing follows Jepsen's rules:
a process has at most one operation outstanding; `fail` means the operation
certainly did not take effect; `info` (or an invocation that never completes
before the history ends) means it may have taken effect at any moment after its
invocation, so it stays pending to the end of the history.

Orders between operations come from record positions (the file order), never from
`time`: imported histories may have no times, and positions are what the recorder
guarantees to be consistent with real time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Every `f` any model understands; a history with another `f` is malformed.
# models.register_model() adds the operations of a new model.
KNOWN_FS: set[str] = {"read", "write", "cas", "add", "read-all", "get", "put", "append", "txn"}
TYPES = frozenset({"invoke", "ok", "fail", "info"})
# Reads return their value in the completion; everything else repeats the invoked value.
# A transaction (`txn`) completes with its micro-operations, reads filled in.
READ_FS = frozenset({"read", "read-all", "get", "txn"})


class HistoryError(ValueError):
    """A malformed history. `line` is the 1-based line (or record number) at fault."""

    def __init__(self, line: int | None, message: str, path: str | None = None) -> None:
        self.line = line
        self.message = message
        self.path = path
        where = path or "history"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable: checks run in other processes
        return (HistoryError, (self.line, self.message, self.path))


def freeze(v: Any) -> Any:
    """JSON lists become tuples so that values are hashable model states."""
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, freeze(x)) for k, x in v.items()))
    return v


@dataclass(slots=True)
class Record:
    """One history record, normalised (values frozen, `line` = where it came from)."""

    index: int
    process: Any
    type: str
    f: str
    key: Any
    value: Any
    time: int | None
    line: int
    region: str | None = None
    node: str | None = None
    phase: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "key": self.key,
            "value": _thaw(self.value),
            "time": self.time,
        }
        for name in ("region", "node", "phase", "error"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        return d


def _thaw(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_thaw(x) for x in v]
    if isinstance(v, frozenset | set):
        return sorted((_thaw(x) for x in v), key=repr)
    return v


@dataclass(slots=True)
class Op:
    """One operation: an invocation paired with its completion.

    `type` is "ok", "fail" or "info" ("info" also for an invocation the history
    never completes). `value` is the invoked value (write value, cas [expected,
    new], added element); `output` is what a read returned (None when unknown).
    `call`/`ret` are record positions; `ret` is None when the op stays pending.
    """

    id: int
    process: Any
    f: str
    key: Any
    value: Any
    output: Any
    type: str
    call: int
    ret: int | None
    call_time: int | None
    ret_time: int | None
    call_line: int
    ret_line: int | None
    phase: str | None = None
    region: str | None = None
    node: str | None = None
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.ret is None


@dataclass
class History:
    """Records in file order plus the operations they pair into (by invocation order)."""

    records: list[Record]
    ops: list[Op]
    path: str | None = None
    format: str = "chaoskit"
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ops)

    def keys(self) -> list[Any]:
        seen: dict[Any, None] = {}
        for op in self.ops:
            seen.setdefault(op.key, None)
        return list(seen)

    def end_time(self) -> int | None:
        times = [r.time for r in self.records if r.time is not None]
        return max(times) if times else None


def unknown_f_error(rec: Record, path: str | None) -> HistoryError:
    return HistoryError(
        rec.line, f"unknown f {rec.f!r}; valid: {', '.join(sorted(KNOWN_FS))}", path
    )


def busy_error(rec: Record, prev_f: str, prev_line: int, path: str | None) -> HistoryError:
    return HistoryError(
        rec.line,
        f"process {rec.process!r} invokes {rec.f} while its {prev_f} invoked at "
        f"line {prev_line} is still outstanding (one operation per process; after "
        "an info the client must continue as a new process)",
        path,
    )


def orphan_error(rec: Record, path: str | None) -> HistoryError:
    return HistoryError(
        rec.line,
        f"{rec.type} completion of {rec.f} by process {rec.process!r} without an "
        "invocation (each completion must follow its process's invoke)",
        path,
    )


def mismatch_error(
    rec: Record, inv_f: str, inv_key: Any, inv_line: int, path: str | None
) -> HistoryError:
    return HistoryError(
        rec.line,
        f"completion ({rec.f} key {rec.key!r}) does not match the invocation at line "
        f"{inv_line} ({inv_f} key {inv_key!r}) of process {rec.process!r}",
        path,
    )


def pair_records(
    records: list[Record], path: str | None = None, positions: bool = False
) -> list[Op]:
    """Pair invocations with completions; reject what cannot be a history.

    Orders come from positions in `records`; with `positions`, from each record's
    `index` instead (a sub-history that keeps the whole history's positions)."""
    busy: dict[Any, Record] = {}
    open_op: dict[Any, int] = {}  # process -> id of its outstanding op
    ops: list[Op] = []
    for pos, rec in enumerate(records):
        if positions:
            pos = rec.index
        if rec.f not in KNOWN_FS:
            raise unknown_f_error(rec, path)
        if rec.type == "invoke":
            prev = busy.get(rec.process)
            if prev is not None:
                raise busy_error(rec, prev.f, prev.line, path)
            busy[rec.process] = rec
            op_id = len(ops)
            open_op[rec.process] = op_id
            ops.append(
                Op(
                    id=op_id,
                    process=rec.process,
                    f=rec.f,
                    key=rec.key,
                    value=rec.value,
                    output=None,
                    type="info",
                    call=pos,
                    ret=None,
                    call_time=rec.time,
                    ret_time=None,
                    call_line=rec.line,
                    ret_line=None,
                    phase=rec.phase,
                    region=rec.region,
                    node=rec.node,
                )
            )
            continue
        inv = busy.pop(rec.process, None)
        if inv is None:
            raise orphan_error(rec, path)
        if inv.f != rec.f or inv.key != rec.key:
            raise mismatch_error(rec, inv.f, inv.key, inv.line, path)
        op = ops[open_op.pop(rec.process)]
        op.type = rec.type
        op.error = rec.error
        if rec.phase is not None:
            op.phase = rec.phase
        if rec.type == "info":
            # May take effect any time after invocation: it never "returns".
            op.ret_time = rec.time
            op.ret_line = rec.line
            continue
        op.ret = pos
        op.ret_time = rec.time
        op.ret_line = rec.line
        if rec.node is not None:
            op.node = rec.node
        if rec.f in READ_FS:
            op.output = rec.value if rec.type == "ok" else None
    return ops


def make_history(
    records: list[Record], path: str | None = None, format: str = "chaoskit"
) -> History:
    return History(records=records, ops=pair_records(records, path), path=path, format=format)


def _int_field(obj: dict[str, Any], name: str, line: int, path: str, required: bool) -> int | None:
    v = obj.get(name)
    if type(v) is int:  # the common case, first
        return v
    if v is None:
        if required:
            raise HistoryError(line, f"missing field {name!r} (an integer)", path)
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise HistoryError(line, f"field {name!r} must be an integer, got {v!r}", path)
    return int(v)


def parse_chaoskit_lines(lines: Iterable[str], path: str) -> list[Record]:
    return list(iter_chaoskit_records(lines, path))


def iter_chaoskit_records(lines: Iterable[str], path: str) -> Iterator[Record]:
    """The records of chaoskit JSON Lines, one at a time (checked as they come)."""
    n = 0
    # one object per distinct type, f, key, region and node: a million records
    # would otherwise hold a million copies of "invoke" and of each key's name
    same: dict[Any, Any] = {}
    for lineno, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text:
            continue
        obj = _json_object(text, lineno, path)
        index = _int_field(obj, "index", lineno, path, required=False)
        if index is not None and index != n:
            raise HistoryError(
                lineno,
                f"field 'index' is {index} but this is record {n} (indices are "
                "dense and 0-based, in file order)",
                path,
            )
        yield record_from(obj, n, lineno, path, same)
        n += 1


def _json_object(text: str, lineno: int, path: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise HistoryError(lineno, f"not a JSON object: {e.msg} (column {e.colno})", path) from None
    if not isinstance(obj, dict):
        raise HistoryError(lineno, "each line must be a JSON object", path)
    return obj


_SIMPLE = (str, int, type(None))


def record_from(
    obj: dict[str, Any], index: int, lineno: int, path: str, same: dict[Any, Any]
) -> Record:
    """A parsed line's record; `same` shares one object per distinct name."""
    one = same.setdefault
    typ = obj.get("type")
    if typ not in TYPES:
        got = "missing" if "type" not in obj else f"{typ!r}"
        raise HistoryError(lineno, f"field 'type' is {got}; valid: invoke, ok, fail, info", path)
    if "process" not in obj:
        raise HistoryError(lineno, "missing field 'process'", path)
    f = obj.get("f")
    if not isinstance(f, str):
        raise HistoryError(
            lineno, f"field 'f' is {f!r}; valid: {', '.join(sorted(KNOWN_FS))}", path
        )
    process = obj["process"]
    key = obj.get("key")
    value = obj.get("value")
    simple = _SIMPLE
    return Record(
        index=index,
        process=process if type(process) in simple else freeze(process),
        type=one(typ, typ),
        f=one(f, f),
        key=one(key, key) if type(key) in simple else freeze(key),
        value=value if type(value) in simple else freeze(value),
        time=_int_field(obj, "time", lineno, path, required=False),
        line=lineno,
        region=one(obj.get("region"), obj.get("region")),
        node=one(obj.get("node"), obj.get("node")),
        phase=obj.get("phase"),
        error=obj.get("error"),
    )


def read_history(path: str | Path, format: str = "auto") -> History:
    """Read a history file (chaoskit JSON Lines by default; other formats by name).

    Raises HistoryError(line, message) for a malformed history.
    """
    from chaoskit.checker.formats import read_any

    return read_any(Path(path), format)


def iter_records(history: History) -> Iterator[dict[str, Any]]:
    for r in history.records:
        yield r.to_json()


def write_history(history: History, path: str | Path) -> None:
    """Write a history as chaoskit JSON Lines (atomically: temp file + rename)."""
    from chaoskit.atomic import atomic_write_text

    text = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in iter_records(history))
    atomic_write_text(Path(path), text)
