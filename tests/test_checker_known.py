"""Known-answer tests: small hand-built histories, each model, good and bad,
including the classic traps. Every known-bad case must be caught."""

from __future__ import annotations

import pytest

from chaoskit.checker import check_linearizable
from chaoskit.testing.histories import history_of

# (name, model, initial, events, expected verdict)
CASES = [
    # --- register
    (
        "sequential write then read",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "linearizable",
    ),
    (
        "stale read after a completed write",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (0, "invoke", "write", 2),
            (0, "ok", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "not-linearizable",
    ),
    (
        "read of nil after a completed write",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        ],
        "not-linearizable",
    ),
    (
        "read of a value never written",
        "register",
        None,
        [(1, "invoke", "read", None), (1, "ok", "read", 7)],
        "not-linearizable",
    ),
    (
        "initial value honoured",
        "register",
        0,
        [(1, "invoke", "read", None), (1, "ok", "read", 0)],
        "linearizable",
    ),
    (
        "concurrent writes, reads see both orders (one reader each way) - impossible",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (1, "invoke", "write", 2),
            (0, "ok", "write", 1),
            (1, "ok", "write", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (3, "invoke", "read", None),
            (3, "ok", "read", 2),
        ],
        "not-linearizable",
    ),
    (
        "concurrent writes with concurrent reads seeing both orders",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (1, "invoke", "write", 2),
            (2, "invoke", "read", None),
            (3, "invoke", "read", None),
            (2, "ok", "read", 1),
            (3, "ok", "read", 2),
            (0, "ok", "write", 1),
            (1, "ok", "write", 2),
        ],
        "linearizable",
    ),
    (
        "two sequential reads flip-flop between concurrent writes' values",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (1, "invoke", "write", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (0, "ok", "write", 1),
            (1, "ok", "write", 2),
        ],
        "not-linearizable",
    ),
    (
        "info write may take effect late (after later ops)",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
            (2, "invoke", "write", 2),
            (2, "ok", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "linearizable",
    ),
    (
        "never-completed write may take effect late",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "linearizable",
    ),
    (
        "info write takes effect once, not twice",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
            (2, "invoke", "write", 2),
            (2, "ok", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "not-linearizable",
    ),
    (
        "failed write never takes effect",
        "register",
        None,
        [
            (0, "invoke", "write", 1),
            (0, "fail", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "not-linearizable",
    ),
    (
        "info read constrains nothing",
        "register",
        None,
        [
            (0, "invoke", "read", None),
            (0, "info", "read", None),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        ],
        "linearizable",
    ),
    # --- cas-register
    (
        "cas succeeds against a value never written",
        "cas-register",
        0,
        [(0, "invoke", "cas", [5, 6]), (0, "ok", "cas", [5, 6])],
        "not-linearizable",
    ),
    (
        "cas chain",
        "cas-register",
        0,
        [
            (0, "invoke", "cas", [0, 1]),
            (0, "ok", "cas", [0, 1]),
            (1, "invoke", "cas", [1, 2]),
            (1, "ok", "cas", [1, 2]),
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
        ],
        "linearizable",
    ),
    (
        "two concurrent cas from the same value both succeed",
        "cas-register",
        0,
        [
            (0, "invoke", "cas", [0, 1]),
            (1, "invoke", "cas", [0, 2]),
            (0, "ok", "cas", [0, 1]),
            (1, "ok", "cas", [0, 2]),
        ],
        "not-linearizable",
    ),
    (
        "info cas may take effect late",
        "cas-register",
        0,
        [
            (0, "invoke", "cas", [0, 1]),
            (0, "info", "cas", [0, 1]),
            (1, "invoke", "read", None),
            (1, "ok", "read", 0),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "linearizable",
    ),
    (
        "info cas only applies if its expected value matched",
        "cas-register",
        0,
        [
            (0, "invoke", "cas", [3, 1]),
            (0, "info", "cas", [3, 1]),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        "not-linearizable",
    ),
    # --- kv (per key, partitioned)
    (
        "kv appends in order",
        "kv",
        None,
        [
            (0, "invoke", "append", "a", "k"),
            (0, "ok", "append", "a", "k"),
            (1, "invoke", "append", "b", "k"),
            (1, "ok", "append", "b", "k"),
            (2, "invoke", "get", None, "k"),
            (2, "ok", "get", "ab", "k"),
            (2, "invoke", "get", None, "j"),
            (2, "ok", "get", "", "j"),
        ],
        "linearizable",
    ),
    (
        "kv appends reordered against real time",
        "kv",
        None,
        [
            (0, "invoke", "append", "a", "k"),
            (0, "ok", "append", "a", "k"),
            (1, "invoke", "append", "b", "k"),
            (1, "ok", "append", "b", "k"),
            (2, "invoke", "get", None, "k"),
            (2, "ok", "get", "ba", "k"),
        ],
        "not-linearizable",
    ),
    (
        "kv put on another key is independent",
        "kv",
        None,
        [
            (0, "invoke", "put", "x", "k1"),
            (0, "ok", "put", "x", "k1"),
            (1, "invoke", "get", None, "k2"),
            (1, "ok", "get", "x", "k2"),
        ],
        "not-linearizable",
    ),
    # --- set
    (
        "set adds then read-all",
        "set",
        None,
        [
            (0, "invoke", "add", 1),
            (1, "invoke", "add", 2),
            (0, "ok", "add", 1),
            (1, "ok", "add", 2),
            (2, "invoke", "read-all", None),
            (2, "ok", "read-all", [2, 1]),
        ],
        "linearizable",
    ),
    (
        "set read-all misses an acknowledged add",
        "set",
        None,
        [
            (0, "invoke", "add", 1),
            (0, "ok", "add", 1),
            (2, "invoke", "read-all", None),
            (2, "ok", "read-all", []),
        ],
        "not-linearizable",
    ),
    (
        "set element disappears between reads",
        "set",
        None,
        [
            (0, "invoke", "add", 1),
            (2, "invoke", "read-all", None),
            (2, "ok", "read-all", [1]),
            (2, "invoke", "read-all", None),
            (2, "ok", "read-all", []),
            (0, "info", "add", 1),
        ],
        "not-linearizable",
    ),
    (
        "set info add shows up late",
        "set",
        None,
        [
            (0, "invoke", "add", 1),
            (0, "info", "add", 1),
            (2, "invoke", "read-all", None),
            (2, "ok", "read-all", []),
            (2, "invoke", "read-all", None),
            (2, "ok", "read-all", [1]),
        ],
        "linearizable",
    ),
]


@pytest.mark.parametrize("name,model,initial,events,expected", CASES, ids=[c[0] for c in CASES])
def test_known_answer(name: str, model: str, initial, events, expected: str) -> None:
    h = history_of(events)
    r = check_linearizable(h, model, timeout_s=10, initial=initial)
    assert r.verdict == expected, r.explanation
    if expected == "not-linearizable":
        assert r.violation is not None and r.violation.op is not None
        assert "cannot be linearized" in r.explanation


def test_violation_names_op_prefix_and_states() -> None:
    h = history_of(
        [
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (0, "invoke", "write", 2),
            (0, "ok", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ],
        key="k7",
    )
    r = check_linearizable(h, "register")
    assert r.failing_key == "k7"
    v = r.violation
    assert v.op.f == "read" and v.op.output == 1
    assert [o.value for o in v.prefix] == [1, 2]
    assert v.states == [2]
    assert "can't read 1 from a register holding 2" in r.explanation
    assert "key 'k7'" in r.explanation
    d = r.to_dict()
    assert d["violation"]["op"]["output"] == 1 and d["violation"]["prefix_length"] == 2


def test_keys_checked_independently() -> None:
    # Interleaved ops on two keys: linearizable only because keys are independent.
    ev = []
    for i in range(5):
        ev += [(0, "invoke", "write", i, "a"), (1, "invoke", "write", 100 + i, "b")]
        ev += [(0, "ok", "write", i, "a"), (1, "ok", "write", 100 + i, "b")]
        ev += [(2, "invoke", "read", None, "a"), (2, "ok", "read", i, "a")]
    r = check_linearizable(history_of(ev), "register")
    assert r.verdict == "linearizable" and r.keys_checked == 2


def _hard_history():
    # 30 concurrent writes of 0 or 1 that all complete after 40 sequential reads
    # alternating 0, 1, 0, ...: that needs 40 changes of value but only 30 writes
    # exist. Nothing short-cuts it: the search must try very many subsets.
    n = 30
    ev = [(p, "invoke", "write", p % 2) for p in range(n)]
    for i in range(40):
        ev += [(100 + i, "invoke", "read", None), (100 + i, "ok", "read", i % 2)]
    ev += [(p, "ok", "write", p % 2) for p in range(n)]
    return history_of(ev)


def test_unknown_when_time_runs_out() -> None:
    # A zero time limit must give "unknown", not a wrong verdict or a hang.
    r = check_linearizable(_hard_history(), "register", timeout_s=0.0)
    assert r.verdict == "unknown"
    assert "time limit" in r.reason


def test_a_nonzero_time_limit_is_honoured() -> None:
    # A 0 s limit can be met before any search step; a real one must stop a
    # search that is under way (the clock is read every few thousand steps).
    r = check_linearizable(_hard_history(), "register", timeout_s=0.3)
    assert r.verdict == "unknown" and "time limit" in r.reason
    assert 0.25 <= r.elapsed_s < 3.0, r.elapsed_s  # tolerant of a loaded machine


def test_unknown_when_memory_bound_reached() -> None:
    r = check_linearizable(_hard_history(), "register", timeout_s=60, memory_mb=1)
    assert r.verdict == "unknown"
    assert "memory bound" in r.reason


def test_many_pending_writes_are_cheap() -> None:
    # 30 writes that never return, read back in an impossible order: lazy
    # placement of pending writes answers at once instead of exploring subsets.
    ev = [(p, "invoke", "write", p) for p in range(30)]
    ev += [(p, "info", "write", p) for p in range(30)]
    for i in range(100):
        ev += [(100 + i, "invoke", "read", None), (100 + i, "ok", "read", (i * 7) % 30)]
    r = check_linearizable(history_of(ev), "register", timeout_s=30)
    assert r.verdict == "not-linearizable"
    # After the first read of 0 the register must stay 0 (0 is read again later
    # and its only write is used), so the next read, of 7, is blamed.
    assert r.violation.op.f == "read" and r.violation.op.output == 7
    assert "it must stay 0" in r.explanation
    assert r.elapsed_s < 5
    ok = [(p, "invoke", "write", p) for p in range(30)] + [
        (p, "info", "write", p) for p in range(30)
    ]
    for i in range(30):
        ok += [(100 + i, "invoke", "read", None), (100 + i, "ok", "read", (i * 7) % 30)]
    assert check_linearizable(history_of(ok), "register", timeout_s=30).verdict == "linearizable"


def test_read_of_a_value_never_written_is_found_before_searching() -> None:
    # The same hard history plus one read of a value nobody writes: the answer is
    # immediate instead of "unknown".
    ev = [(p, "invoke", "write", p) for p in range(30)]
    ev += [(p, "info", "write", p) for p in range(30)]
    for i in range(100):
        ev += [(100 + i, "invoke", "read", None), (100 + i, "ok", "read", (i * 7) % 30)]
    ev += [(999, "invoke", "read", None), (999, "ok", "read", 12345)]
    r = check_linearizable(history_of(ev), "register", timeout_s=30)
    assert r.verdict == "not-linearizable"
    assert r.violation.op.process == 999
    assert "12345, a value no operation on this key ever writes" in r.explanation
    assert r.elapsed_s < 5


def test_model_rejects_foreign_operation() -> None:
    from chaoskit.checker import HistoryError

    h = history_of([(0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2])])
    with pytest.raises(HistoryError, match="not an operation of model register"):
        check_linearizable(h, "register")


def test_a_new_model_is_one_small_class() -> None:
    # The example of docs/checker.md, "Writing a model".
    from chaoskit.checker import ILLEGAL, MODELS, Model, register_model
    from chaoskit.checker.history import KNOWN_FS

    class CounterModel(Model):
        name = "counter"
        fs = frozenset({"incr", "read"})

        def init(self, initial=None):
            return initial or 0

        def prepare(self, op):
            if op.type == "fail":
                return None
            if op.f == "read":
                return None if op.type != "ok" else (0, op.output)
            return (1, op.value)

        def step(self, state, d):
            if d[0] == 0:
                return state if d[1] == state else ILLEGAL
            return state + d[1]

        def pure(self, d):
            return d[0] == 0

    added = CounterModel.fs - KNOWN_FS
    register_model(CounterModel)
    try:
        concurrent = [(0, "invoke", "incr", 2), (1, "invoke", "incr", 3)]
        good = concurrent + [
            (2, "invoke", "read", None),
            (2, "ok", "read", 3),  # incr 3 first ...
            (0, "ok", "incr", 2),
            (1, "ok", "incr", 3),
            (2, "invoke", "read", None),
            (2, "ok", "read", 5),  # ... then incr 2
        ]
        assert check_linearizable(history_of(good), "counter").verdict == "linearizable"
        bad = concurrent + [
            (0, "ok", "incr", 2),  # incr 2 completed before the read began
            (2, "invoke", "read", None),
            (2, "ok", "read", 3),
            (1, "ok", "incr", 3),
        ]
        r = check_linearizable(history_of(bad), "counter")
        assert r.verdict == "not-linearizable"
        assert r.violation.op.output == 3
    finally:
        MODELS.pop("counter", None)
        KNOWN_FS.difference_update(added)


def test_memory_bound_holds_for_growing_kv_states() -> None:
    # kv states are strings that grow with each append, so counting cached
    # configurations does not bound memory: 22 concurrent 800-byte appends and an
    # impossible get once grew the process past 6 GiB under a 64 MiB bound. The
    # search now also bounds the process's growth. (A put of "" runs concurrently with
    # everything, so a get's value may follow a reset to "" and the prefix rule cannot
    # prune with it.) Run in a child process so its peak RSS is its own.
    import subprocess
    import sys

    code = """
import resource
from chaoskit.checker import check_linearizable
from chaoskit.testing.histories import history_of
ev = [(99, "invoke", "put", "")]
ev += [(p, "invoke", "append", f"<{p:02d}>" * 200) for p in range(22)]
ev += [(p, "ok", "append", f"<{p:02d}>" * 200) for p in range(22)]
ev += [(100, "invoke", "get", None), (100, "ok", "get", "<00>" * 200 + "<01>" * 200)]
ev += [(101, "invoke", "get", None), (101, "ok", "get", "zzz"), (99, "ok", "put", "")]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = check_linearizable(history_of(ev, key="k"), "kv", timeout_s=5, memory_mb=64)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024
print(r.verdict, grown, r.reason)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    verdict, grown, reason = p.stdout.split(" ", 2)
    assert verdict == "unknown" and "memory bound reached" in reason, p.stdout
    assert int(grown) < 64 + 64, p.stdout  # the budget, plus one clock interval of slack


def test_prefix_rule_ends_a_kv_search_at_an_impossible_get() -> None:
    # 22 concurrent appends and, while they are in flight, a get of a value no order
    # of appends can build: the get must be linearized before its return, and only
    # appends can precede it, so every state that is not a prefix of what it read is
    # a dead end. Without the rule the search tried orders of the appends until a
    # 64 MiB bound stopped it (unknown); with it the verdict comes at once.
    ev = [(p, "invoke", "append", f"<{p:02d}>" * 200) for p in range(22)]
    ev += [(100, "invoke", "get", None), (100, "ok", "get", "<00>" * 200 + "<01>" * 200)]
    ev += [(101, "invoke", "get", None), (101, "ok", "get", "zzz")]
    ev += [(p, "ok", "append", f"<{p:02d}>" * 200) for p in range(22)]
    r = check_linearizable(history_of(ev, key="k"), "kv", timeout_s=30, memory_mb=64)
    assert r.verdict == "not-linearizable"
    assert r.violation is not None and r.violation.op.output == "zzz"
    # the same with the impossible get replaced by a possible one passes
    ok = [e if e[0] != 101 or e[1] != "ok" else (101, "ok", "get", "<00>" * 200) for e in ev]
    ok = [e for e in ok if e[0] != 100]
    assert check_linearizable(history_of(ok, key="k"), "kv", timeout_s=30).verdict == (
        "linearizable"
    )
