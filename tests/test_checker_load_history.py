"""The checker reads what the load recorder writes (real files, the real
recorder), including the final-read phase used by the lost-write analysis."""

from __future__ import annotations

from pathlib import Path

from chaoskit.checker import analyse_lost_writes, check_linearizable, read_history


def test_reads_the_load_rooms_history_file(tmp_path: Path) -> None:
    from chaoskit.load.history import HistoryFile, Recorder

    path = tmp_path / "history.jsonl"
    sink = HistoryFile(path)
    ticks = iter(range(1_000, 10_000_000, 1_000))
    rec = Recorder(sink.write, t0_ns=0, clock=lambda: next(ticks))
    a, b = rec.new_process(), rec.new_process()
    rec.invoke(a, "write", "k1", 101, region="beijing", node="bj-1")
    rec.invoke(b, "write", "k1", 102, region="xian", node="xa-1")
    rec.complete(a, "ok")
    rec.complete(b, "info", error="timeout")
    c = rec.new_process()
    rec.invoke(c, "write", "k1", 103, region="beijing", node="bj-1")
    rec.complete(c, "ok")
    rec.invoke(a, "read", "k1", None, region="beijing", node="bj-1", phase="final")
    rec.complete(a, "ok", value=101)
    sink.close()

    h = read_history(path)
    assert len(h.ops) == 4 and h.ops[-1].phase == "final"
    assert h.ops[1].type == "info" and h.ops[0].region == "beijing"
    r = check_linearizable(h, "register")
    # 103 was acknowledged after 101 completed, yet the final read saw 101.
    assert r.verdict == "not-linearizable"
    lw = analyse_lost_writes(h, "register")
    assert [(w.key, w.value) for w in lw.lost] == [("k1", 103)]
    assert lw.lost[0].ack_time_ns == h.ops[2].ret_time
    assert (lw.lost[0].region, lw.lost[0].node) == ("beijing", "bj-1")
