"""Bounded-memory linearizability check of a chaoskit JSON Lines history.

`check_file_low_memory` reads history.jsonl once, line by line, checking every
record as the whole-history reader does (same errors, same lines) and pairing
invocations with completions across processes; each record goes, with its
position and line, to its key's file in a temporary directory (buffered, 20,000
records at a time, so no more than one file is open; marshalled, so reading a key
back parses no JSON). Then the keys are checked one by one, smallest first as
check_linearizable does, each read back from its file alone (P-compositionality: a history is linearizable iff each key's sub-history
is). Peak memory is that of the biggest key, not of the whole history; positions,
lines and op numbers are the whole history's, so verdict and explanation are the
same as the default check's.
"""

from __future__ import annotations

import marshal
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoskit.checker.history import (
    KNOWN_FS,
    HistoryError,
    Record,
    busy_error,
    iter_chaoskit_records,
    mismatch_error,
    orphan_error,
    pair_records,
    unknown_f_error,
)
from chaoskit.checker.linearizability import (
    DEFAULT_MEMORY_MB,
    PARALLEL_MIN_OPS,
    KeyResult,
    LinearizabilityResult,
    Violation,
    _check_key,
    judge_keys,
    model_f_error,
)
from chaoskit.checker.models import MODELS, Model, get_model, guess_model


class NotStreamable(ValueError):
    """A history this mode does not check (it has to be read whole)."""


# Records buffered before they are appended to the keys' files (a few MiB).
_BUFFER_RECORDS = 20_000


@dataclass
class StreamedCheck:
    """The verdict, and the counts the CLI needs in place of the whole history."""

    result: LinearizabilityResult
    ops: int  # operations (invocations)
    ok: int  # of which completed ok
    failed: int  # of which failed


class _Spill:
    """Per-key files of records: per flush, the length (8 bytes) and the marshalled
    list of record tuples (already checked: read back without parsing JSON)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: dict[Any, int] = {}  # key -> file number, in first-seen order
        self.invokes: list[int] = []  # operations per file
        self.buf: dict[int, list[tuple[Any, ...]]] = {}
        self.buffered = 0

    def add(self, rec: Record, op_id: int) -> None:
        """`rec` with the whole history's op number (-1 for a completion)."""
        i = self.ids.get(rec.key)
        if i is None:
            i = self.ids[rec.key] = len(self.invokes)
            self.invokes.append(0)
        if op_id >= 0:
            self.invokes[i] += 1
        row = (
            rec.index,
            rec.process,
            rec.type,
            rec.f,
            rec.key,
            rec.value,
            rec.time,
            rec.line,
            rec.region,
            rec.node,
            rec.phase,
            rec.error,
            op_id,
        )
        self.buf.setdefault(i, []).append(row)
        self.buffered += 1
        if self.buffered >= _BUFFER_RECORDS:
            self.flush()

    def flush(self) -> None:
        for i, rows in self.buf.items():
            blob = marshal.dumps(rows)
            with open(self.root / f"{i}.part", "ab") as fh:
                fh.write(len(blob).to_bytes(8, "little"))
                fh.write(blob)
        self.buf.clear()
        self.buffered = 0

    def read(self, i: int) -> tuple[list[Record], list[int]]:
        """File i's records (whole-history positions and lines) and op ids."""
        records: list[Record] = []
        ids: list[int] = []
        with open(self.root / f"{i}.part", "rb") as fh:
            data = fh.read()
        pos = 0
        while pos < len(data):
            n = int.from_bytes(data[pos : pos + 8], "little")
            rows = marshal.loads(data[pos + 8 : pos + 8 + n])
            pos += 8 + n
            for row in rows:
                records.append(Record(*row[:12]))
                if row[12] >= 0:
                    ids.append(row[12])
        return records, ids


def check_file_low_memory(
    path: Path,
    model: str = "auto",
    timeout_s: float = 60.0,
    initial: Any = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    jobs: int = 1,
    spill_dir: str | None = None,
) -> StreamedCheck:
    """check_linearizable of a chaoskit JSON Lines file, holding one key at a time.

    Raises HistoryError for a malformed history (the same error, at the same line,
    as reading it whole) and NotStreamable for a transactional one (f "txn"),
    which this mode does not check. Temporary files go under `spill_dir` (default: the
    system's temporary directory) and are removed before returning.
    """
    p = str(path)
    root = Path(tempfile.mkdtemp(prefix="chaoskit-lowmem-", dir=spill_dir))
    try:
        spill = _Spill(root)
        # process -> (f, key, line) of its outstanding invocation
        busy: dict[Any, tuple[str, Any, int]] = {}
        first_line: dict[str, int] = {}  # f -> line of its first invocation
        ops = ok = failed = 0
        try:
            fh = path.open(encoding="utf-8")
        except FileNotFoundError:
            raise HistoryError(None, "no such file", p) from None
        except OSError as e:
            raise HistoryError(None, f"cannot read: {e}", p) from None
        with fh:
            for rec in iter_chaoskit_records(fh, p):
                if rec.f not in KNOWN_FS:
                    raise unknown_f_error(rec, p)
                if rec.type == "invoke":
                    prev = busy.get(rec.process)
                    if prev is not None:
                        raise busy_error(rec, prev[0], prev[2], p)
                    busy[rec.process] = (rec.f, rec.key, rec.line)
                    first_line.setdefault(rec.f, rec.line)
                    spill.add(rec, ops)
                    ops += 1
                    continue
                inv = busy.pop(rec.process, None)
                if inv is None:
                    raise orphan_error(rec, p)
                if inv[0] != rec.f or inv[1] != rec.key:
                    raise mismatch_error(rec, inv[0], inv[1], inv[2], p)
                ok += rec.type == "ok"
                failed += rec.type == "fail"
                spill.add(rec, -1)
        spill.flush()
        if model != "auto" and model not in MODELS:
            raise NotStreamable(f"model {model} is checked whole")
        if "txn" in first_line:
            raise NotStreamable("a transactional history (f txn) is checked whole")
        m = get_model(guess_model(set(first_line)) if model == "auto" else model)
        if type(m).partition is not Model.partition:
            raise NotStreamable(f"model {m.name} partitions by more than the key")
        bad = [(line, f) for f, line in first_line.items() if f not in m.fs]
        if bad:
            line, f = min(bad)
            raise model_f_error(m, f, line, p)
        init = m.init(initial)
        # as check_linearizable's: the time limit and elapsed time cover the check,
        # not the reading of the file (here, its first pass)
        t0 = time.monotonic()
        deadline = t0 + max(0.0, timeout_s)
        keys = list(spill.ids)
        # smallest first, ties in first-seen order (as check_linearizable sorts them)
        order = sorted(range(len(keys)), key=lambda i: spill.invokes[i])

        def one(j: int) -> tuple[KeyResult, Violation | None]:
            i = order[j]
            records, ids = spill.read(i)
            key_ops = pair_records(records, p, positions=True)
            for op, op_id in zip(key_ops, ids, strict=True):
                op.id = op_id
            return _check_key(m, keys[i], key_ops, init, deadline, memory_mb, p)

        spread = jobs if jobs > 1 and len(keys) > 1 and ops >= PARALLEL_MIN_OPS else 1
        result = judge_keys(m, one, len(keys), ops, spread, deadline, t0)
        return StreamedCheck(result, ops, ok, failed)
    finally:
        shutil.rmtree(root, ignore_errors=True)
