"""Set and register lost-write analysis (the RPO oracle)."""

from __future__ import annotations

import json

import pytest

from chaoskit.checker import analyse_lost_writes
from chaoskit.testing.histories import history_of

S = 1_000_000_000


def test_set_lost_recovered_unexpected() -> None:
    ev = [
        (0, "invoke", "add", 1, "s", 1 * S),
        (0, "ok", "add", 1, "s", 2 * S),  # acked, present
        (1, "invoke", "add", 2, "s", 3 * S),
        (1, "ok", "add", 2, "s", 4 * S),  # acked, LOST
        (2, "invoke", "add", 3, "s", 5 * S),
        (2, "info", "add", 3, "s", 6 * S),  # indeterminate, present: recovered
        (3, "invoke", "add", 4, "s", 7 * S),
        (3, "info", "add", 4, "s", 8 * S),  # indeterminate, absent: fine
        (4, "invoke", "add", 5, "s", 9 * S),
        (4, "fail", "add", 5, "s", 10 * S),  # failed but present: unexpected
        (5, "invoke", "add", 6, "s", 11 * S),
        (5, "ok", "add", 6, "s", 12 * S),  # acked, LOST
        (9, "invoke", "read-all", None, "s", 20 * S, "final"),
        (9, "ok", "read-all", [1, 3, 5, 77], "s", 21 * S, "final"),
    ]
    r = analyse_lost_writes(history_of(ev), "set")
    assert sorted(w.value for w in r.lost) == [2, 6]
    assert {w.value: w.ack_time_ns for w in r.lost} == {2: 4 * S, 6: 12 * S}
    assert r.oldest_lost().value == 2
    assert [x.value for x in r.recovered] == [3]
    assert sorted((u.value, u.reason) for u in r.unexpected) == [
        (5, "its add failed (certainly not applied)"),
        (77, "never added"),
    ]
    assert r.acknowledged == 3
    assert "2 acknowledged write(s) lost of 3" in r.summary()
    assert "4.000 s" in r.summary()
    json.dumps(r.to_dict())  # JSON-able


def test_set_add_concurrent_with_final_read_is_not_judged() -> None:
    ev = [
        (9, "invoke", "read-all", None, "s", 1, "final"),
        (0, "invoke", "add", 1, "s", 2),
        (0, "ok", "add", 1, "s", 3),
        (9, "ok", "read-all", [], "s", 4, "final"),
    ]
    r = analyse_lost_writes(history_of(ev), "set")
    assert r.lost == [] and r.acknowledged == 0


def test_register_lost_write_rule() -> None:
    ev = [
        (0, "invoke", "write", 10, "k", 1 * S),
        (0, "ok", "write", 10, "k", 2 * S),  # W10 completes at 2 s
        (1, "invoke", "write", 11, "k", 3 * S),
        (1, "ok", "write", 11, "k", 4 * S),  # invoked after W10 completed: LOST
        (2, "invoke", "cas", [11, 12], "k", 5 * S),
        (2, "ok", "cas", [11, 12], "k", 6 * S),  # also after W10: LOST
        (3, "invoke", "read", None, "k", 6 * S + 1),
        (3, "ok", "read", 12, "k", 6 * S + 2),  # someone saw 12 before the end
        (8, "invoke", "read", None, "k", 30 * S, "final"),
        (8, "ok", "read", 10, "k", 31 * S, "final"),
    ]
    r = analyse_lost_writes(history_of(ev), "register")
    assert sorted(w.value for w in r.lost) == [11, 12]
    w12 = next(w for w in r.lost if w.value == 12)
    assert w12.observed and w12.final_value == 10 and w12.ack_time_ns == 6 * S
    assert "completed before" in w12.reason
    assert r.acknowledged == 3


def test_register_concurrent_write_is_not_lost() -> None:
    # W2 overlaps W1, so W2 may be ordered before W1: final value 1 proves nothing.
    ev = [
        (0, "invoke", "write", 1, "k", 0),
        (1, "invoke", "write", 2, "k", 1),
        (0, "ok", "write", 1, "k", 2),
        (1, "ok", "write", 2, "k", 3),
        (8, "invoke", "read", None, "k", 10, "final"),
        (8, "ok", "read", 1, "k", 11, "final"),
    ]
    r = analyse_lost_writes(history_of(ev), "register")
    assert r.lost == [] and r.acknowledged == 2


def test_register_info_writer_of_final_value_proves_nothing() -> None:
    ev = [
        (0, "invoke", "write", 1, "k", 0),
        (0, "info", "write", 1, "k", 1),
        (1, "invoke", "write", 2, "k", 2),
        (1, "ok", "write", 2, "k", 3),
        (8, "invoke", "read", None, "k", 10, "final"),
        (8, "ok", "read", 1, "k", 11, "final"),
    ]
    r = analyse_lost_writes(history_of(ev), "register")
    assert r.lost == []
    assert [x.value for x in r.recovered] == [1]


def test_register_final_nil_loses_every_acked_write_and_unexpected_value() -> None:
    ev = [
        (0, "invoke", "write", 1, "a", 0),
        (0, "ok", "write", 1, "a", 1),
        (8, "invoke", "read", None, "a", 10, "final"),
        (8, "ok", "read", None, "a", 11, "final"),
        (8, "invoke", "read", None, "b", 12, "final"),
        (8, "ok", "read", 99, "b", 13, "final"),
        (0, "invoke", "write", 5, "c", 14),
        (0, "ok", "write", 5, "c", 15),
    ]
    r = analyse_lost_writes(history_of(ev), "register")
    assert [(w.key, w.value) for w in r.lost] == [("a", 1)]
    assert [(u.key, u.value) for u in r.unexpected] == [("b", 99)]
    assert r.keys_without_final_read == ["c"]


def test_unknown_workload() -> None:
    with pytest.raises(ValueError, match="valid: set, register"):
        analyse_lost_writes(history_of([]), "queue")


def test_kv_put_get_follow_the_register_rule() -> None:
    ev = [
        (0, "invoke", "put", "a", "k", 0),
        (0, "ok", "put", "a", "k", 1),
        (1, "invoke", "put", "b", "k", 2),
        (1, "ok", "put", "b", "k", 3),
        (8, "invoke", "get", None, "k", 10, "final"),
        (8, "ok", "get", "a", "k", 11, "final"),
    ]
    r = analyse_lost_writes(history_of(ev), "kv")
    assert [(w.key, w.value) for w in r.lost] == [("k", "b")]
