"""Recording operations into history.jsonl (docs/contracts.md).

Two layers, so that the same user code records locally and on remote workers:

- `Recorder` (one per load process) numbers processes, stamps times on the run's
  time base and remembers which operations are still in flight, so a run that
  stops mid-operation still gives every invoke a completion (`info`).
- A sink receives finished records: `HistoryFile` appends them to history.jsonl
  with a dense `index`, buffered but never more than `FLUSH_S` behind, so the
  engine can tail it live; in a
  distributed run the worker's sink is a buffer shipped to the master, which maps
  worker-local process numbers to run-wide ones and writes the one file.

Nothing here imports Locust or gevent: the engine's process uses it for the final
reads, and tests use it directly. Both classes take the lock they guard their state
with; the Locust process passes a lock that never yields to gevent (its critical
sections do no cooperative I/O, so no greenlet ever waits on it), which costs a
fraction of gevent's patched `threading.Lock`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any, Protocol

from chaoskit.atomic import atomic_open

Record = dict[str, Any]


class Lock(Protocol):
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> Any: ...


STOPPED_IN_FLIGHT = "load stopped while the operation was in flight"


FLUSH_S = 0.1  # the most a record waits in HistoryFile's buffer while records keep coming

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_KEYS: dict[str, str] = {}  # field name -> '"name":'
# The fields of a load user's invoke or ok record, in the order Recorder makes them.
_PLAIN = ("process", "type", "f", "key", "value", "time", "region", "node")
_PLAIN_FMT = '"process":%d,"type":%s,"f":%s,"key":%s,"value":%s,"time":%d,"region":%s,"node":%s'


def _value(v: Any) -> str:
    t = type(v)
    if t is str:
        return _quote(v)
    if t is int:
        return int.__repr__(v)
    if v is None:
        return "null"
    return _dumps(v)


def encode_fields(rec: Record) -> str:
    """`rec`'s fields but "index" as JSON object members, without the braces.

    The same text as json.dumps with compact separators (ASCII-escaped strings),
    built directly: the common record (the fields of `_PLAIN`, in that order)
    through one format string, others field by field; only values other than
    strings, ints and None (lists, dicts, floats, bools) go through the JSON encoder.
    """
    if len(rec) == 8 and tuple(rec) == _PLAIN:
        p, typ, f, key, value, t, region, node = rec.values()
        if type(p) is int and type(t) is int and type(typ) is str and type(f) is str:
            return _PLAIN_FMT % (
                p,
                _quote(typ),
                _quote(f),
                _value(key),
                _value(value),
                t,
                _value(region),
                _value(node),
            )
    parts = []
    for k, v in rec.items():
        if k == "index":
            continue
        name = _KEYS.get(k)
        if name is None:
            name = _KEYS[k] = _quote(k) + ":" if type(k) is str else _dumps({k: 0})[1:-1] + ":"
        parts.append(name + _value(v))
    return ",".join(parts)


class HistoryFile:
    """Appends records to history.jsonl with a dense index.

    Lines are buffered (one write per batch instead of one per record) under one
    rule that keeps a history trustworthy if the writer is killed: the invocation
    of an operation that can change state (anything but a read) reaches the file,
    with everything before it, before the call returns, so before the request is
    sent. What can be lost is then only reads and completions, which a repair turns
    into `info` (unknown): never an effect without its operation. Otherwise the
    buffer is written when a record finds it older than `FLUSH_S`, on `flush()`
    and on `close()`.
    """

    def __init__(
        self, path: Path, start_index: int | None = None, lock: Lock | None = None
    ) -> None:
        self.path = Path(path)
        self._lock = lock or threading.Lock()
        if start_index is None:
            start_index, _ = scan_history(self.path)
        self._next = start_index
        self._f = open(self.path, "a", buffering=1 << 16)
        self._flushed = time.monotonic()

    def write(self, rec: Record) -> int:
        """Append `rec` (any "index" it has is replaced); returns its index."""
        body = encode_fields(rec)
        changes = rec.get("type") == "invoke" and rec.get("f") not in READ_ONLY
        with self._lock:
            i = self._next
            self._next += 1
            self._f.write(f'{{"index":{i},{body}}}\n' if body else f'{{"index":{i}}}\n')
            now = time.monotonic()
            if changes or now - self._flushed > FLUSH_S:
                self._f.flush()
                self._flushed = now
            return i

    def flush(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.flush()
                self._flushed = time.monotonic()

    @property
    def count(self) -> int:
        return self._next

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()


class Recorder:
    """Per-process bookkeeping: process numbers, times, operations in flight.

    `sink(record)` gets each record as soon as it is made; records of one process
    reach the sink in time order.
    """

    def __init__(
        self,
        sink: Callable[[Record], Any],
        t0_ns: int,
        first_process: int = 0,
        clock: Callable[[], int] = time.monotonic_ns,
        offset_ns: int = 0,
        lock: Lock | None = None,
    ) -> None:
        self.sink = sink
        self.t0_ns = t0_ns
        self.offset_ns = offset_ns  # remote workers: their monotonic clock -> the master's
        self._clock = clock
        self._next_process = first_process
        self._lock = lock or threading.Lock()
        self.in_flight: dict[int, Record] = {}  # process -> its invoke
        self.counts: dict[str, int] = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}

    def now(self) -> int:
        return self._clock() + self.offset_ns - self.t0_ns

    def new_process(self) -> int:
        with self._lock:
            p = self._next_process
            self._next_process += 1
            return p

    def invoke(
        self,
        process: int,
        f: str,
        key: Any,
        value: Any,
        region: str,
        node: str | None,
        **extra: Any,
    ) -> Record:
        with self._lock:
            if process in self.in_flight:
                raise RuntimeError(f"process {process} already has an operation in flight")
            rec: Record = {
                "process": process,
                "type": "invoke",
                "f": f,
                "key": key,
                "value": value,
                "time": self._clock() + self.offset_ns - self.t0_ns,
                "region": region,
                "node": node,
            }
            if extra:
                rec.update(extra)
            self.in_flight[process] = rec
            self.counts["invoke"] += 1
            self.sink(dict(rec))
            return rec

    def complete(
        self,
        process: int,
        type_: str,
        value: Any = None,
        error: str | None = None,
        node: str | None = None,
    ) -> Record:
        """Record the completion of `process`'s operation; reads pass the value read."""
        if type_ not in ("ok", "fail", "info"):
            raise ValueError(f"completion type {type_!r} is not ok|fail|info")
        with self._lock:
            inv = self.in_flight.pop(process)
            rec: Record = dict(inv)
            rec.pop("index", None)
            rec["type"] = type_
            rec["time"] = self._clock() + self.offset_ns - self.t0_ns
            if type_ == "ok" and is_read(inv["f"]):
                rec["value"] = value  # a read's completion carries the value read
            if node is not None:
                rec["node"] = node
            if error and type_ != "ok":
                rec["error"] = str(error)
            self.counts[type_] += 1
            self.sink(rec)
            return rec

    def close_in_flight(self, error: str = STOPPED_IN_FLIGHT) -> int:
        """Complete every operation still in flight as `info` (its fate is unknown)."""
        n = 0
        for process in sorted(list(self.in_flight)):
            if process in self.in_flight:
                self.complete(process, "info", error=error)
                n += 1
        return n


# operations that cannot change state (a txn can: it may write)
READ_ONLY = frozenset(("read", "read-all", "get"))


def is_read(f: str) -> bool:
    return f in ("read", "read-all", "get", "txn")  # a txn completes with its reads filled in


def scan_history(path: Path) -> tuple[int, int]:
    """(next index, next free process number) of an existing history file."""
    n, proc = 0, 0
    try:
        with open(path) as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                n = max(n, int(rec.get("index", n)) + 1)
                proc = max(proc, int(rec.get("process", -1)) + 1)
    except FileNotFoundError:
        pass
    return n, proc


def read_records(path: Path, tolerate_torn_tail: bool = False) -> list[Record]:
    """All records; with `tolerate_torn_tail`, a last line cut short by a killed writer is dropped."""
    with open(path) as fh:
        lines = [line for line in fh if line.strip()]
    out: list[Record] = []
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if tolerate_torn_tail and i == len(lines) - 1:
                break
            raise ValueError(f"{path}:{i + 1}: not a JSON record") from None
    return out


def normalize(records: Iterable[Record]) -> list[Record]:
    """Order records by time and renumber `index` densely.

    The sort is stable, so records with equal times keep their arrival order;
    that order is per-process correct (a worker ships its records in the order
    it made them), so the invoke/complete order of each process survives.
    """
    out = sorted(records, key=lambda r: r["time"])
    return [{"index": i, **{k: v for k, v in r.items() if k != "index"}} for i, r in enumerate(out)]


def repair(records: list[Record], now: int, error: str) -> list[Record]:
    """Complete every invoke left without a completion (a killed load process) as `info`."""
    open_ops: dict[int, Record] = {}
    for r in records:
        if r.get("type") == "invoke":
            open_ops[r["process"]] = r
        else:
            open_ops.pop(r.get("process"), None)  # type: ignore[arg-type]
    end = max([now, *(r["time"] for r in records)])
    for inv in open_ops.values():
        rec = {k: v for k, v in inv.items() if k not in ("index", "type", "time")}
        records.append({**rec, "type": "info", "time": end, "error": error})
    return records


def rewrite_normalized(path: Path, repair_error: str | None = None, now: int = 0) -> int:
    """Atomically rewrite `path` in time order with a dense index; returns the count.

    With `repair_error`, a torn last line is dropped and invokes left open are
    completed as `info` with that error (after a load process was killed).
    """
    path = Path(path)
    recs = read_records(path, tolerate_torn_tail=repair_error is not None)
    if repair_error is not None:
        recs = repair(recs, now, repair_error)
    recs = normalize(recs)
    with atomic_open(path) as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    return len(recs)


def problems(records: list[Record]) -> list[str]:
    """Contract violations in a history (used by tests and as a self-check).

    Dense 0-based index in file order; each process has at most one outstanding
    operation; every completion matches its invoke's f and key; a process never
    invokes again after an `info`; times do not go backwards within a process.
    """
    errs: list[str] = []
    open_ops: dict[int, Record] = {}
    dead: set[int] = set()
    last_time: dict[int, int] = {}
    for i, r in enumerate(records):
        where = f"record {i}"
        if r.get("index") != i:
            errs.append(f"{where}: index {r.get('index')} is not {i}")
        p = r.get("process")
        if not isinstance(p, int):
            errs.append(f"{where}: process {p!r} is not an int")
            continue
        t = r.get("time")
        if not isinstance(t, int):
            errs.append(f"{where}: time {t!r} is not an int")
        elif t < last_time.get(p, -(2**63)):
            errs.append(f"{where}: time goes backwards for process {p}")
        else:
            last_time[p] = t
        typ = r.get("type")
        if typ == "invoke":
            if p in open_ops:
                errs.append(f"{where}: process {p} invokes with an operation outstanding")
            if p in dead:
                errs.append(f"{where}: process {p} invokes again after an info")
            open_ops[p] = r
        elif typ in ("ok", "fail", "info"):
            inv = open_ops.pop(p, None)
            if inv is None:
                errs.append(f"{where}: {typ} of process {p} without an invoke")
            elif (inv.get("f"), inv.get("key")) != (r.get("f"), r.get("key")):
                errs.append(f"{where}: completion f/key differ from the invoke")
            if typ == "info":
                dead.add(p)
        else:
            errs.append(f"{where}: type {typ!r} is not invoke|ok|fail|info")
    return errs
