"""`chaoskit check --low-memory` (chaoskit/checker/lowmem.py): the history streamed
once, spilled per key, checked key by key, must give exactly the verdict, failing
key, explanation and errors of the whole-history check."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

import chaoskit.checker.lowmem as lowmem
from chaoskit.checker import check_linearizable, read_history
from chaoskit.checker.cli import check
from chaoskit.checker.history import HistoryError
from chaoskit.checker.lowmem import NotStreamable, check_file_low_memory
from chaoskit.testing.simulate import simulate


def _write(path: Path, events: list[tuple]) -> Path:
    with path.open("w") as fh:
        for i, (proc, typ, f, v, key) in enumerate(events):
            rec = {"index": i, "process": proc, "type": typ, "f": f, "key": key, "value": v}
            fh.write(json.dumps({**rec, "time": i * 1000}) + "\n")
    return path


def _corrupt_a_read(events: list[tuple], seed: int) -> list[tuple]:
    """One ok read of some key returns a value nobody wrote to it."""
    rng = random.Random(seed)
    reads = [i for i, e in enumerate(events) if e[1] == "ok" and e[2] == "read"]
    i = rng.choice(reads[len(reads) // 2 :])
    proc, typ, f, _, key = events[i]
    return events[:i] + [(proc, typ, f, 10**9, key)] + events[i + 1 :]


def _same(path: Path, tmp: Path, model: str = "auto") -> None:
    whole = check_linearizable(read_history(path), model, timeout_s=60)
    streamed = check_file_low_memory(path, model, timeout_s=60, spill_dir=str(tmp))
    got = streamed.result
    assert got.verdict == whole.verdict
    assert got.model == whole.model and got.ops == whole.ops == streamed.ops
    assert got.failing_key == whole.failing_key
    assert got.explanation == whole.explanation
    assert [(k.key, k.verdict, k.ops) for k in got.per_key] == [
        (k.key, k.verdict, k.ops) for k in whole.per_key
    ]
    assert list(tmp.iterdir()) == [], "spill files left behind"


@pytest.mark.parametrize("seed", range(6))
def test_same_verdicts_as_the_whole_history(tmp_path: Path, seed: int) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    events = simulate(seed=seed, n_ops=600, n_procs=8, keys=1 + seed * 3)
    good = _write(tmp_path / "good.jsonl", events)
    _same(good, spill, "cas-register")
    bad = _write(tmp_path / "bad.jsonl", _corrupt_a_read(events, seed))
    _same(bad, spill, "cas-register")
    assert check_file_low_memory(bad, "cas-register", spill_dir=str(spill)).result.verdict == (
        "not-linearizable"
    )


def test_many_flushes_and_parallel_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a tiny buffer: every key's file is appended to many times
    monkeypatch.setattr(lowmem, "_BUFFER_RECORDS", 20)
    events = simulate(seed=42, n_ops=3_000, n_procs=12, keys=17)
    bad = _write(tmp_path / "bad.jsonl", _corrupt_a_read(events, 42))
    whole = check_linearizable(read_history(bad), "cas-register")
    for jobs in (1, 2):
        got = check_file_low_memory(bad, "cas-register", jobs=jobs).result
        assert got.verdict == whole.verdict == "not-linearizable"
        assert got.explanation == whole.explanation


def test_cli_low_memory_exit_codes_and_errors(tmp_path: Path) -> None:
    run = CliRunner().invoke
    events = simulate(seed=7, n_ops=300, n_procs=6, keys=4)
    good = _write(tmp_path / "good.jsonl", events)
    bad = _write(tmp_path / "bad.jsonl", _corrupt_a_read(events, 7))
    r = run(check, [str(good), "--low-memory"])
    assert r.exit_code == 0, r.output
    assert "good.jsonl: linearizable (model cas-register" in r.output and "low memory" in r.output
    r = run(check, [str(bad), "--low-memory"])
    plain = run(check, [str(bad)])
    assert r.exit_code == plain.exit_code == 1, r.output
    explained = [ln for ln in r.output.splitlines() if ln.startswith("  ")]
    assert explained and explained == [
        ln for ln in plain.output.splitlines() if ln.startswith("  ")
    ]
    # a malformed history: the same error, at the same line, exit 2
    recs = [json.loads(x) for x in good.read_text().splitlines()]
    first_ok = next(i for i, x in enumerate(recs) if x["type"] == "ok")
    recs.insert(first_ok + 1, recs[first_ok])  # a second completion of the same op
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps({**x, "index": i}) + "\n" for i, x in enumerate(recs)))
    r = run(check, [str(broken), "--low-memory"])
    plain = run(check, [str(broken)])
    assert r.exit_code == plain.exit_code == 2
    errors = [ln for ln in r.output.splitlines() if ln.startswith("bad history")]
    assert errors == [ln for ln in plain.output.splitlines() if ln.startswith("bad history")]
    assert f"broken.jsonl:{first_ok + 2}: ok completion" in errors[0]
    r = run(check, [str(good), "--low-memory", "--html", str(tmp_path / "x.html")])
    assert r.exit_code == 2 and "--low-memory cannot be combined with --html" in r.output


def test_transactions_and_other_formats_are_read_whole(tmp_path: Path) -> None:
    txn = tmp_path / "txn.jsonl"
    recs = [
        {"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1]]},
        {"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1]]},
        {"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
        {"process": 1, "type": "ok", "f": "txn", "value": [["r", "x", [1]]]},
    ]
    txn.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(NotStreamable):
        check_file_low_memory(txn)
    r = CliRunner().invoke(check, [str(txn), "--low-memory"])
    assert r.exit_code == 0, r.output
    assert "a transactional history (f txn) is checked whole; read whole" in r.output
    edn = tmp_path / "h.edn"
    edn.write_text(
        "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n"
    )
    r = CliRunner().invoke(check, [str(edn), "--low-memory"])
    assert r.exit_code == 0 and "streams chaoskit JSON Lines; read whole" in r.output


def test_bad_line_in_low_memory_mode(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text('{"process": 0, "type": "invoke", "f": "write", "value": 1}\nnot json\n')
    with pytest.raises(HistoryError) as e:
        check_file_low_memory(p, spill_dir=str(tmp_path))
    assert e.value.line == 2 and "not a JSON object" in str(e.value)
    assert [q.name for q in tmp_path.iterdir()] == ["h.jsonl"], "spill files left behind"
