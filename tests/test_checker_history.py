"""History reading: the chaoskit format, malformed histories rejected with line
numbers, imports of Jepsen EDN / Jepsen logs / Porcupine kv, export to EDN."""

from __future__ import annotations

import json
from pathlib import Path

import edn_format
import pytest

from chaoskit.checker import HistoryError, check_linearizable, read_history
from chaoskit.checker.formats import detect_format, to_jepsen_edn, write_jepsen_edn
from chaoskit.testing.histories import history_of


def _write(tmp_path: Path, records: list[dict], name: str = "h.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in records))
    return p


def _rec(i, process, typ, f, value=None, key="k", time=None):
    return {
        "index": i,
        "process": process,
        "type": typ,
        "f": f,
        "key": key,
        "value": value,
        "time": i * 1000 if time is None else time,
        "region": "beijing",
        "node": "n1",
    }


def test_reads_chaoskit_jsonl(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        [
            _rec(0, 0, "invoke", "write", 3),
            _rec(1, 1, "invoke", "read"),
            _rec(2, 0, "ok", "write", 3),
            _rec(3, 1, "ok", "read", 3),
            _rec(4, 2, "invoke", "cas", [3, 4]),
            _rec(5, 2, "info", "cas", [3, 4]),
        ],
    )
    h = read_history(p)
    assert h.format == "chaoskit" and len(h.ops) == 3
    w, r, c = h.ops
    assert (w.f, w.value, w.type, w.call, w.ret) == ("write", 3, "ok", 0, 2)
    assert (r.output, r.call_line, r.ret_line) == (3, 2, 4)
    assert c.type == "info" and c.pending and c.value == (3, 4)
    assert check_linearizable(h, "cas-register").verdict == "linearizable"


@pytest.mark.parametrize(
    "records,line,words",
    [
        ([_rec(0, 0, "ok", "write", 1)], 1, "without an invocation"),
        (
            [_rec(0, 0, "invoke", "write", 1), _rec(1, 0, "invoke", "read")],
            2,
            "still outstanding",
        ),
        ([_rec(0, 0, "invoke", "frobnicate", 1)], 1, "unknown f 'frobnicate'"),
        ([_rec(0, 0, "invoke", "write", 1), _rec(1, 0, "ok", "read", 1)], 2, "does not match"),
        ([_rec(0, 0, "bogus", "write", 1)], 1, "field 'type'"),
        ([_rec(0, 0, "invoke", "write", 1), _rec(5, 0, "ok", "write", 1)], 2, "dense"),
        ([{**_rec(0, 0, "invoke", "write", 1), "time": "soon"}], 1, "field 'time'"),
    ],
)
def test_malformed_history_rejected_with_line(tmp_path: Path, records, line, words) -> None:
    p = _write(tmp_path, records)
    with pytest.raises(HistoryError) as ei:
        read_history(p)
    assert ei.value.line == line
    assert words in str(ei.value)
    assert str(p) in str(ei.value)


def test_not_json_line(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(_rec(0, 0, "invoke", "write", 1)) + "\n{oops\n")
    with pytest.raises(HistoryError) as ei:
        read_history(p, "chaoskit")
    assert ei.value.line == 2 and "not a JSON object" in ei.value.message


def test_invocation_never_completed_stays_pending(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        [
            _rec(0, 0, "invoke", "write", 1),
            _rec(1, 1, "invoke", "read"),
            _rec(2, 1, "ok", "read", 1),
        ],
    )
    h = read_history(p)
    assert h.ops[0].type == "info" and h.ops[0].pending
    assert check_linearizable(h, "register").verdict == "linearizable"


JEPSEN_LOG = """\
2017-01-01 12:00:00,000{GMT}	INFO	[jepsen worker 0] jepsen.util: starting
INFO  jepsen.util - 0	:invoke	:read	nil
INFO  jepsen.util - 1	:invoke	:write	4
INFO  jepsen.util - 0	:ok	:read	nil
INFO  jepsen.util - 1	:ok	:write	4
INFO  jepsen.util - 2	:invoke	:cas	[4 5]
INFO  jepsen.util - 2	:info	:cas	:timed-out
INFO  jepsen.util - 3	:invoke	:read	nil
INFO  jepsen.util - 3	:fail	:read	:timed-out
INFO  jepsen.util - 4	:invoke	:read	nil
INFO  jepsen.util - 4	:ok	:read	5
"""


def test_jepsen_log_import(tmp_path: Path) -> None:
    p = tmp_path / "etcd.log"
    p.write_text(JEPSEN_LOG)
    assert detect_format(JEPSEN_LOG) == "jepsen-log"
    h = read_history(p)
    assert h.format == "jepsen-log"
    fs = [(o.process, o.f, o.type) for o in h.ops]
    assert fs == [
        (0, "read", "ok"),
        (1, "write", "ok"),
        (2, "cas", "info"),
        (3, "read", "fail"),
        (4, "read", "ok"),
    ]
    assert h.ops[2].value == (4, 5) and h.ops[0].output is None and h.ops[1].call_line == 3
    assert check_linearizable(h, "cas-register").verdict == "linearizable"


JEPSEN_EDN = """\
[{:process 7, :type :invoke, :f :cas, :value [2 3]}
 {:process 7, :type :fail, :f :cas, :value [2 3]}
 {:process 8, :type :invoke, :f :write, :value 2}
 {:process 8, :type :ok, :f :write, :value 2}
 {:process :nemesis,
  :type :info, :f :start, :value nil}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 3}]
"""


def test_jepsen_edn_import(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text(JEPSEN_EDN)
    h = read_history(p)
    assert h.format == "jepsen-edn" and len(h.ops) == 3
    assert [o.type for o in h.ops] == ["fail", "ok", "ok"]
    # the multi-line nemesis map forces the full edn_format parse: lines still real
    assert (h.ops[2].call_line, h.ops[2].ret_line) == (7, 8)
    r = check_linearizable(h, "cas-register", initial=0)
    assert r.verdict == "not-linearizable"
    assert r.violation.op.output == 3


def test_jepsen_edn_nil_read_is_unknown_like_knossos(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text(
        "[{:process 0, :type :invoke, :f :write, :value 1}\n"
        " {:process 0, :type :ok, :f :write, :value 1}\n"
        " {:process 1, :type :invoke, :f :read, :value nil}\n"
        " {:process 1, :type :ok, :f :read, :value nil}]\n"
    )
    h = read_history(p)
    assert h.notes and "Knossos" in h.notes[0]
    assert check_linearizable(h, "cas-register", initial=0).verdict == "linearizable"


def test_porcupine_kv_import(tmp_path: Path) -> None:
    p = tmp_path / "c01.txt"
    p.write_text(
        '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n'
        '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}\n'
        '{:process 1, :type :invoke, :f :get, :key "0", :value nil}\n'
        '{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}\n'
        '{:process 1, :type :invoke, :f :get, :key "1", :value nil}\n'
        '{:process 1, :type :ok, :f :get, :key "1", :value "x"}\n'
    )
    h = read_history(p)
    assert h.format == "porcupine-kv" and len(h.ops) == 3
    r = check_linearizable(h, "auto")
    assert r.model == "kv" and r.verdict == "not-linearizable" and r.failing_key == "1"
    assert r.violation.op.call_line == 5


def test_bad_edn_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.edn"
    p.write_text("[{:process 1, :type :invoke, :f :read")
    with pytest.raises(HistoryError, match="not a valid EDN history"):
        read_history(p)


def test_export_to_jepsen_edn_round_trips(tmp_path: Path) -> None:
    h = history_of(
        [
            (0, "invoke", "write", 1, "a"),
            (0, "ok", "write", 1, "a"),
            (1, "invoke", "cas", [1, 2], "a"),
            (1, "info", "cas", [1, 2], "a"),
            (2, "invoke", "read", None, "b"),
            (2, "ok", "read", None, "b"),
        ]
    )
    text = to_jepsen_edn(h)
    doc = edn_format.loads(text)  # the maintained reader accepts what we write
    K = edn_format.Keyword
    assert len(doc) == 6
    assert doc[2][K("f")] == K("cas") and list(doc[2][K("value")]) == [1, 2]
    assert doc[3][K("type")] == K("info") and doc[0][K("key")] == "a"
    indep = edn_format.loads(to_jepsen_edn(h, independent=True))
    assert list(indep[0][K("value")]) == ["a", 1]
    out = tmp_path / "h.edn"
    write_jepsen_edn(h, out)
    back = read_history(out)
    got = [(o.f, o.key, o.value, o.type) for o in back.ops]
    want = [(o.f, o.key, o.value, o.type) for o in h.ops]
    assert got[:2] == want[:2]
    # Knossos reads an ok read of nil as "value unknown": documented, lossy.
    assert got[2] == ("read", "b", None, "info")
    assert not list(tmp_path.glob(".*tmp"))


def test_independent_edn_round_trips_with_verdicts(tmp_path: Path) -> None:
    # Keyed histories exported as jepsen.independent tuples read back per key,
    # with the same verdict, good and bad (a cas on key b expecting a's value).
    from chaoskit.checker import check_linearizable

    good = [
        (0, "invoke", "write", 1, "a"),
        (1, "invoke", "write", 2, "b"),
        (0, "ok", "write", 1, "a"),
        (1, "ok", "write", 2, "b"),
        (2, "invoke", "cas", [2, 3], "b"),
        (2, "ok", "cas", [2, 3], "b"),
        (3, "invoke", "read", None, "a"),
        (3, "ok", "read", 1, "a"),
    ]
    bad = good[:4] + [(2, "invoke", "cas", [1, 3], "b"), (2, "ok", "cas", [1, 3], "b")]
    for events, want in ((good, "linearizable"), (bad, "not-linearizable")):
        h = history_of(events)
        out = tmp_path / "i.edn"
        write_jepsen_edn(h, out, independent=True)
        back = read_history(out, "jepsen-edn-independent")
        assert [(o.f, o.key, o.value, o.type) for o in back.ops] == [
            (o.f, o.key, o.value, o.type) for o in h.ops
        ]
        assert check_linearizable(back, "cas-register").verdict == want
        # read as plain EDN, the tuples are values of one register: a different history
        assert check_linearizable(read_history(out), "cas-register").verdict == ("not-linearizable")
    p = tmp_path / "plain.edn"
    write_jepsen_edn(history_of(good), p)
    with pytest.raises(HistoryError, match=r"every :value is a \[key value\] tuple"):
        read_history(p, "jepsen-edn-independent")
