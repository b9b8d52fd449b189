"""Bounded-memory linearizability check of a chaoskit JSON Lines history.

`check_file_low_memory` reads history.jsonl once, line by line, checking every
record as the whole-history reader does (same errors, same lines) and pairing
invocations with completions across processes; each record goes, with its
position and line, to its key's file in a temporary directory (buffered, a few
MiB at a time, so no more than one file is open). Then the keys are checked one
by one, smallest first as check_linearizable does, each read back from its file
alone (P-compositionality: a history is linearizable iff each key's sub-history
is). Peak memory is that of the biggest key, not of the whole history; positions,
lines and op numbers are the whole history's, so verdict and explanation are the
same as the default check's.
"""

from __future__ import annotations

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
    record_from_line,
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


# Bytes of buffered lines before they are appended to the keys' files.
_BUFFER_BYTES = 4 << 20


@dataclass
class StreamedCheck:
    """The verdict, and the counts the CLI needs in place of the whole history."""

    result: LinearizabilityResult
    ops: int  # operations (invocations)
    ok: int  # of which completed ok
    failed: int  # of which failed


class _Spill:
    """Per-key files of `pos<TAB>line<TAB>op id<TAB>record text` lines."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: dict[Any, int] = {}  # key -> file number, in first-seen order
        self.records: list[int] = []  # records per file
        self.invokes: list[int] = []  # operations per file
        self.buf: dict[int, list[str]] = {}
        self.buffered = 0

    def add(self, key: Any, line: str, invoke: bool) -> None:
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.records)
            self.records.append(0)
            self.invokes.append(0)
        self.records[i] += 1
        if invoke:
            self.invokes[i] += 1
        self.buf.setdefault(i, []).append(line)
        self.buffered += len(line)
        if self.buffered > _BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        for i, lines in self.buf.items():
            with open(self.root / f"{i}.part", "a", encoding="utf-8") as fh:
                fh.write("".join(lines))
        self.buf.clear()
        self.buffered = 0

    def read(self, i: int, path: str) -> tuple[list[Record], list[int]]:
        """File i's records (whole-history positions and lines) and op ids."""
        records: list[Record] = []
        ids: list[int] = []
        same: dict[Any, Any] = {}
        with open(self.root / f"{i}.part", encoding="utf-8") as fh:
            for raw in fh:
                pos, line, op_id, text = raw.split("\t", 3)
                records.append(record_from_line(text, int(pos), int(line), path, same))
                if op_id != "-":
                    ids.append(int(op_id))
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
            lines = _numbered(fh)
            for pos, rec in enumerate(iter_chaoskit_records(lines, p)):
                if rec.f not in KNOWN_FS:
                    raise unknown_f_error(rec, p)
                text = lines.text
                if rec.type == "invoke":
                    prev = busy.get(rec.process)
                    if prev is not None:
                        raise busy_error(rec, prev[0], prev[2], p)
                    busy[rec.process] = (rec.f, rec.key, rec.line)
                    first_line.setdefault(rec.f, rec.line)
                    spill.add(rec.key, f"{pos}\t{rec.line}\t{ops}\t{text}\n", True)
                    ops += 1
                    continue
                inv = busy.pop(rec.process, None)
                if inv is None:
                    raise orphan_error(rec, p)
                if inv[0] != rec.f or inv[1] != rec.key:
                    raise mismatch_error(rec, inv[0], inv[1], inv[2], p)
                ok += rec.type == "ok"
                failed += rec.type == "fail"
                spill.add(rec.key, f"{pos}\t{rec.line}\t-\t{text}\n", False)
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
            records, ids = spill.read(i, p)
            key_ops = pair_records(records, p, positions=True)
            for op, op_id in zip(key_ops, ids, strict=True):
                op.id = op_id
            return _check_key(m, keys[i], key_ops, init, deadline, memory_mb, p)

        spread = jobs if jobs > 1 and len(keys) > 1 and ops >= PARALLEL_MIN_OPS else 1
        result = judge_keys(m, one, len(keys), ops, spread, deadline, t0)
        return StreamedCheck(result, ops, ok, failed)
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _numbered:
    """Iterates a file's lines, keeping the last one (stripped) as `text`."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.text = ""

    def __iter__(self) -> _numbered:
        return self

    def __next__(self) -> str:
        raw = next(self.fh)
        self.text = raw.strip()
        return raw
