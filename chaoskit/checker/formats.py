"""History import/export: chaoskit JSON Lines, Jepsen EDN, Jepsen log lines,
Porcupine kv logs; export to Jepsen EDN for Knossos or Elle.

EDN is read with `edn_format` (the maintained PyPI reader). Histories are
overwhelmingly one flat map per line, so a small fast path reads those lines
directly (keeping real line numbers for errors) and anything else falls back to
`edn_format` for the whole document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from chaoskit.checker.history import (
    History,
    HistoryError,
    Record,
    freeze,
    make_history,
    parse_chaoskit_lines,
)

FORMATS = (
    "auto",
    "chaoskit",
    "jepsen-edn",
    "jepsen-edn-independent",  # jepsen.independent: every :value is [key value]
    "jepsen-log",
    "porcupine-kv",
)
_TYPES = {"invoke", "ok", "fail", "info"}


def _lines(text: str) -> Iterator[str]:
    """The lines of `text`, one at a time (the format is known from the first)."""
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        if end < 0:
            end = len(text)
        yield text[pos:end]
        pos = end + 1


def detect_format(text: str) -> str:
    for line in _lines(text):
        s = line.strip()
        if not s or s.startswith(";"):
            if s.startswith(";"):
                return "jepsen-edn"
            continue
        if s.startswith('{"') or s.startswith('{ "'):
            return "chaoskit"
        if s.startswith("[") or s.startswith("("):
            return "jepsen-edn"
        if s.startswith("{:"):
            return "porcupine-kv"
        if "jepsen.util" in s or _LOG_RE.search(s):
            return "jepsen-log"
        break
    return "chaoskit"


def read_any(path: Path, format: str = "auto") -> History:
    if format not in FORMATS:
        raise HistoryError(
            None, f"unknown format {format!r}; valid: {', '.join(FORMATS)}", str(path)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HistoryError(None, "no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryError(None, f"cannot read: {e}", str(path)) from None
    if format == "auto":
        format = detect_format(text)
    p = str(path)
    if format == "chaoskit":
        # line by line from the file, the text dropped: a long history's lines would
        # otherwise sit in memory twice while its records are built
        del text
        with path.open(encoding="utf-8") as fh:
            records = parse_chaoskit_lines(fh, p)
        return make_history(records, p, "chaoskit")
    if format == "jepsen-log":
        return make_history(parse_jepsen_log(text, p), p, format)
    history_notes: list[str] = []
    records = parse_edn_history(
        text, p, history_notes, independent=format == "jepsen-edn-independent"
    )
    h = make_history(records, p, format)
    h.notes.extend(history_notes)
    return h


# ---------------------------------------------------------------- EDN values

# strings first (the commonest), as one run of plain characters between escapes
# rather than an alternation per character: it halves the time of a line's match
_SCALAR = r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|:[\w\-.?!*+/]+|-?\d+(?:\.\d+)?|nil|true|false)'
_VALUE = rf"(?:{_SCALAR}|\[(?:\s*{_SCALAR}\s*,?)*\])"
_PAIR_RE = re.compile(rf":([\w\-.?]+)\s+({_VALUE})\s*,?\s*")
_SCALAR_RE = re.compile(_SCALAR)
_STR_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


_SIMPLE = (str, int, type(None))  # values freeze() returns as they are


def _scalar(tok: str) -> Any:
    c = tok[0]
    if c == '"':  # the commonest first
        body = tok[1:-1]
        if "\\" in body:
            body = re.sub(r"\\(.)", lambda m: _STR_ESC.get(m.group(1), m.group(1)), body)
        return body
    if c == ":":
        return tok[1:]
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if "." in tok:
        return float(tok)
    return int(tok)


def _value(tok: str) -> Any:
    if tok[0] == "[":
        return tuple(_scalar(t) for t in _SCALAR_RE.findall(tok[1:-1]))
    return _scalar(tok)


def _shape_re(keys: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a whole flat map with these keys in this order."""
    pairs = r"\s*,?\s*".join(rf":{re.escape(k)}\s+({_VALUE})" for k in keys)
    return re.compile(rf"\{{\s*{pairs}\s*,?\s*\}}")


def _fast_map(s: str) -> dict[str, Any] | None:
    """A flat EDN map on one line, or None when it is anything richer."""
    if not (s.startswith("{") and s.endswith("}")):
        return None
    body = s[1:-1].strip()
    out: dict[str, Any] = {}
    pos = 0
    for m in _PAIR_RE.finditer(body):
        if m.start() != pos:
            return None
        out[m.group(1)] = _value(m.group(2))
        pos = m.end()
    if pos != len(body):
        return None
    return out


def _from_edn(v: Any) -> Any:
    import edn_format

    if isinstance(v, edn_format.Keyword):
        return v.name
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        return {(_from_edn(k)): _from_edn(x) for k, x in v.items()}
    if isinstance(v, Sequence):
        return tuple(_from_edn(x) for x in v)
    if isinstance(v, AbstractSet):
        return frozenset(_from_edn(x) for x in v)
    return v


def _edn_maps(text: str, path: str) -> list[tuple[int, dict[str, Any]]]:
    lines = text.splitlines()
    maps: list[tuple[int, dict[str, Any]]] = []
    fast = True
    shapes: list[tuple[tuple[str, ...], re.Pattern[str]]] = []
    # tokens repeat (:invoke, :read, process numbers, keys, each written value twice):
    # each distinct one is converted once
    seen: dict[str, Any] = {}
    for lineno, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.startswith(";"):
            continue
        # strip the enclosing vector/list brackets of a one-map-per-line history
        if s[0] in "[(" and maps == [] and s[1:].lstrip().startswith("{"):
            s = s[1:].lstrip()
        if s and s[-1] in "])" and s[:-1].rstrip().endswith("}"):
            s = s[:-1].rstrip()
        if s in ("", "[", "(", "]", ")", "[]", "()"):
            continue
        # Lines of a history share a few shapes (the same keys in the same order):
        # one match of the line's shape, else the pair-by-pair reading.
        m = None
        for keys, shape in shapes:
            got = shape.fullmatch(s)
            if got is not None:
                vals = []
                for tok in got.groups():
                    v = seen.get(tok, seen)
                    if v is seen:
                        v = seen[tok] = _value(tok)
                    vals.append(v)
                m = dict(zip(keys, vals, strict=True))
                break
        if m is None:
            m = _fast_map(s)
            if m is None:
                fast = False
                break
            if len(shapes) < 8:
                keys = tuple(m)
                shapes.append((keys, _shape_re(keys)))
        maps.append((lineno, m))
    if fast:
        return maps
    import edn_format

    body = text.strip()
    if body.startswith("{"):
        body = "[" + body + "]"  # one map per line without a vector
    try:
        doc = edn_format.loads(body)
    except Exception as e:  # edn_format raises several kinds
        raise HistoryError(None, f"not a valid EDN history: {e}", path) from None
    if isinstance(doc, Mapping):
        doc = [doc]
    if isinstance(doc, str) or not isinstance(doc, Sequence):
        raise HistoryError(None, "an EDN history must be a vector of operation maps", path)
    starts = _map_lines(text)
    out = []
    for n, item in enumerate(doc, 1):
        line = starts[n - 1] if len(starts) == len(doc) else n
        if not isinstance(item, Mapping):
            raise HistoryError(line, f"record {n} is not a map: {item!r}", path)
        out.append((line, _from_edn(item)))
    return out


def _map_lines(text: str) -> list[int]:
    """The line on which each top-level op map starts (for error messages when the
    whole document went through edn_format, which keeps no positions)."""
    lines: list[int] = []
    line = 1
    depth = 0
    base = None  # depth at which op maps start: 1 inside a vector/list, else 0
    in_str = esc = comment = False
    for ch in text:
        if ch == "\n":
            line += 1
            comment = False
            continue
        if comment:
            continue
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == ";":
            comment = True
        elif ch in "[({":
            if base is None:
                base = 0 if ch == "{" else 1
            if ch == "{" and depth == base:
                lines.append(line)
            depth += 1
        elif ch in "])}":
            depth -= 1
    return lines


def parse_edn_history(
    text: str, path: str, notes: list[str] | None = None, independent: bool = False
) -> list[Record]:
    """Jepsen EDN histories and Porcupine kv logs (one map per operation event).

    With `independent` (jepsen.independent histories, and our export with
    `--edn-independent`), every op's `:value` is a `[key value]` tuple: the key
    becomes the record's key.

    Follows Knossos where the formats differ from ours: an `ok` read of nil is a
    read whose value is unknown (Knossos's cas-register accepts it in any state),
    so it becomes an `info` read; nemesis records are skipped.
    """
    records: list[Record] = []
    nil_reads = 0
    txn_open: dict[Any, bool] = {}  # process -> has an open txn invocation
    made_invokes = 0
    for line, m in _edn_maps(text, path):
        proc = m.get("process")
        if proc == "nemesis" or isinstance(proc, str) and not proc.isdigit():
            continue
        typ = m.get("type")
        if typ not in _TYPES:
            raise HistoryError(line, f":type is {typ!r}; valid: :invoke :ok :fail :info", path)
        f = m.get("f")
        if f is None and _txn_value(m.get("value")):
            f = "txn"  # Elle's own histories often leave :f (and :process) out
        if not isinstance(f, str):
            raise HistoryError(line, f":f is {f!r}; expected a keyword such as :read", path)
        if proc is None and f != "txn":
            raise HistoryError(line, "missing :process", path)
        if f == "txn":
            if typ != "invoke" and not txn_open.get(proc):
                # a completed transaction listed alone (Elle's tests): invoked just before
                records.append(_invocation_of(m, proc, line, len(records)))
                made_invokes += 1
            txn_open[proc] = typ == "invoke"
        value = m.get("value")
        key = m.get("key")
        if type(value) not in _SIMPLE:
            value = freeze(value)
        if type(key) not in _SIMPLE:
            key = freeze(key)
        if independent:
            if not (isinstance(value, tuple) and len(value) == 2):
                raise HistoryError(
                    line,
                    f":value is {m.get('value')!r}; with jepsen-edn-independent every "
                    ":value is a [key value] tuple (use --format jepsen-edn otherwise)",
                    path,
                )
            key, value = value
        if typ == "ok" and f == "read" and value is None:
            typ = "info"
            nil_reads += 1
        t = m.get("time")
        records.append(
            Record(
                index=len(records),
                process=proc,
                type=typ,
                f=f,
                key=key,
                value=value,
                time=int(t) if isinstance(t, int | float) and not isinstance(t, bool) else None,
                line=line,
                error=m.get("error") if isinstance(m.get("error"), str) else None,
            )
        )
    if made_invokes and notes is not None:
        notes.append(
            f"{made_invokes} transaction(s) without an invocation: taken as invoked just before"
        )
    if nil_reads and notes is not None:
        notes.append(
            f"{nil_reads} ok read(s) of nil taken as reads of an unknown value (Knossos semantics)"
        )
    return records


def _txn_value(v: Any) -> bool:
    """A list of [f k v] micro-operations (Elle's transactions)."""
    return isinstance(v, tuple) and all(
        isinstance(x, tuple) and len(x) == 3 and x[0] in ("r", "append", "w") for x in v
    )


def _invocation_of(m: dict[str, Any], proc: Any, line: int, index: int) -> Record:
    mops = freeze(m.get("value"))
    return Record(
        index=index,
        process=proc,
        type="invoke",
        f="txn",
        key=None,
        value=tuple((f, k, None if f == "r" else v) for f, k, v in mops),
        time=None,
        line=line,
    )


# ----------------------------------------------------------- Jepsen log lines

_LOG_RE = re.compile(
    r"^(?:.*jepsen\.util\s+-\s+)?(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)\s*(.*?)\s*$"
)


def parse_jepsen_log(text: str, path: str) -> list[Record]:
    """`INFO  jepsen.util - 2\t:invoke\t:write\t4` lines; other lines are ignored.

    Values: nil, integers, [a b] vectors, keywords (:timed-out). A read of nil
    means the key does not exist (as in Porcupine's etcd tests), so it stays nil.
    """
    records: list[Record] = []
    values: dict[str, Any] = {}  # the few distinct value texts, each read once
    for lineno, raw in enumerate(text.splitlines(), 1):
        if ":invoke" not in raw and ":ok" not in raw and ":fail" not in raw and ":info" not in raw:
            continue
        m = _LOG_RE.match(raw.strip())
        if m is None:
            continue
        proc_s, typ, f, val_s = m.groups()
        if proc_s.startswith(":"):
            continue  # :nemesis
        try:
            proc: Any = int(proc_s)
        except ValueError:
            raise HistoryError(lineno, f"process {proc_s!r} is not an integer", path) from None
        value = values.get(val_s, values)
        if value is values:
            v = val_s.strip()
            if not v:
                value = None
            else:
                mm = _PAIR_RE.fullmatch(":v " + v)
                if mm is None:
                    raise HistoryError(lineno, f"cannot read the value {v!r}", path)
                value = freeze(_value(mm.group(2)))
            values[val_s] = value
        records.append(
            Record(
                index=len(records),
                process=proc,
                type=typ,
                f=f,
                key=None,
                value=value,
                time=None,
                line=lineno,
                error=value if typ in ("info", "fail") and isinstance(value, str) else None,
            )
        )
    return records


# ------------------------------------------------------------------- export


def _edn(v: Any) -> str:
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, tuple | list):
        return "[" + " ".join(_edn(x) for x in v) + "]"
    if isinstance(v, frozenset | set):
        return "#{" + " ".join(_edn(x) for x in sorted(v, key=repr)) + "}"
    raise ValueError(f"cannot write {v!r} as EDN")


def to_jepsen_edn(history: History, independent: bool = False) -> str:
    """The history as a Jepsen EDN vector of op maps (Knossos/Elle input).

    With `independent`, keyed ops carry `:value [key value]` (jepsen.independent's
    tuples, for Knossos's independent checker); otherwise `:key` is a field."""
    out = []
    for r in history.records:
        parts = [
            f":index {r.index}",
            f":process {_edn(r.process)}",
            f":type :{r.type}",
            f":f :{r.f}",
        ]
        value = r.value
        if independent and r.key is not None:
            value = (r.key, value)
        elif r.key is not None:
            parts.append(f":key {_edn(r.key)}")
        parts.append(f":value {_txn_edn(value) if r.f == 'txn' else _edn(value)}")
        if r.time is not None:
            parts.append(f":time {r.time}")
        if r.error is not None:
            parts.append(f":error {_edn(r.error)}")
        out.append("{" + ", ".join(parts) + "}")
    return "[" + "\n ".join(out) + "]\n"


def _txn_edn(mops: Any) -> str:
    """A transaction's micro-operations with their f as keywords ([:append :x 1]), as
    Elle reads them; keys and values as plain EDN."""
    return "[" + " ".join(f"[:{f} {_edn(k)} {_edn(v)}]" for f, k, v in mops) + "]"


def write_jepsen_edn(history: History, path: str | Path, independent: bool = False) -> None:
    from chaoskit.atomic import atomic_write_text  # tempfile: a slow import, needed only here

    atomic_write_text(Path(path), to_jepsen_edn(history, independent))
