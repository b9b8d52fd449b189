"""Known answers for the isolation checker.

Every case is a fact taken from Elle (github.com/jepsen-io/elle), re-expressed in
our own notation (chaoskit.testing.txn_histories): the transactions of a test
case in test/elle/list_append_test.clj or test/elle/rw_register_test.clj, or the
example of the paper (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies
from Experimental Observations", VLDB 2020, section 2 / figure 1), and the anomaly
classes Elle reports for them. Each must be found here too; the valid ones must
stay valid (a checker that flags everything would pass the first half).
"""

from __future__ import annotations

import pytest

from chaoskit.checker.history import HistoryError
from chaoskit.checker.isolation import check_isolation
from chaoskit.testing.txn_histories import txn_history

LA = "list_append_test.clj"
RW = "rw_register_test.clj"

PAPER = [
    [
        ["append", 253, 1],
        ["append", 253, 3],
        ["append", 253, 4],
        ["append", 255, 2],
        ["append", 255, 3],
        ["append", 255, 4],
        ["append", 255, 5],
        ["append", 256, 1],
        ["append", 256, 2],
    ],
    [["append", 255, 8], ["r", 253, [1, 3, 4]]],
    [["append", 256, 4], ["r", 255, [2, 3, 4, 5, 8]], ["r", 256, [1, 2, 4]], ["r", 253, [1, 3, 4]]],
    [["append", 250, 10], ["r", 253, [1, 3, 4]], ["r", 255, [2, 3, 4, 5]], ["append", 256, 3]],
]

# (source, workload, transactions, consistency model, anomaly classes the model forbids)
CASES = [
    # --- list-append: checker-test
    (
        f"{LA} checker-test G0",
        "list-append",
        ["ax1 ay1", "ax2 ay2", "rx12 ry21"],
        "read-committed",
        {"G0"},
    ),
    (
        f"{LA} checker-test G1a",
        "list-append",
        [(0, "fail", "ax1"), "rx1"],
        "read-committed",
        {"G1a"},
    ),
    (
        f"{LA} checker-test G1b (also G-single, as Elle reports under strict-1SR)",
        "list-append",
        ["ax1 ax2", "rx1"],
        "serializable",
        {"G1b", "G-single"},
    ),
    (
        f"{LA} checker-test G1b under read committed",
        "list-append",
        ["ax1 ax2", "rx1"],
        "read-committed",
        {"G1b"},
    ),
    (
        f"{LA} checker-test G1c",
        "list-append",
        ["ax1 ry1", "ax2 ay1", "rx12 ry1"],
        "read-committed",
        {"G1c"},
    ),
    (
        f"{LA} checker-test G-single",
        "list-append",
        ["ax1 ay1", "ax2 ry", "rx12"],
        "snapshot-isolation",
        {"G-single"},
    ),
    (
        f"{LA} checker-test G-single is legal under read committed",
        "list-append",
        ["ax1 ay1", "ax2 ry", "rx12"],
        "read-committed",
        set(),
    ),
    (
        f"{LA} checker-test G2",
        "list-append",
        ["ax1 ry", "ay1 rx", "rx1 ry1"],
        "serializable",
        {"G2-item"},
    ),
    (
        f"{LA} checker-test G2 is legal under read committed",
        "list-append",
        ["ax1 ry", "ay1 rx", "rx1 ry1"],
        "read-committed",
        set(),
    ),
    (
        f"{LA} checker-test G2 (write skew) is legal under snapshot isolation",
        "list-append",
        ["ax1 ry", "ay1 rx", "rx1 ry1"],
        "snapshot-isolation",
        set(),
    ),
    (
        f"{LA} checker-test Strong SI violation: valid serializable",
        "list-append",
        ["ax1", "ax2", "rx1", "rx12"],
        "serializable",
        set(),
    ),
    (
        f"{LA} checker-test Strong SI violation",
        "list-append",
        ["ax1", "ax2", "rx1", "rx12"],
        "strict-serializable",
        {"G-single-realtime"},
    ),
    (
        f"{LA} checker-test Strong Session SI violation",
        "list-append",
        [(0, "ok", "ax1"), (1, "ok", "ax2"), (1, "ok", "rx1"), (2, "ok", "rx12")],
        "session-snapshot-isolation",
        {"G-single-process"},
    ),
    (
        f"{LA} checker-test Strong Session SI violation: valid serializable",
        "list-append",
        [(0, "ok", "ax1"), (1, "ok", "ax2"), (1, "ok", "rx1"), (2, "ok", "rx12")],
        "serializable",
        set(),
    ),
    (
        f"{LA} checker-test G-nonadjacent-process (elle issue 17)",
        "list-append",
        [
            (0, "ok", [["r", "x", None], ["r", "z", [1]]]),
            (1, "ok", "ax1"),
            (1, "ok", "rz"),
            (2, "ok", "az1"),
        ],
        "session-snapshot-isolation",
        {"G-nonadjacent-process"},
    ),
    (
        f"{LA} checker-test G-nonadjacent-process: valid serializable",
        "list-append",
        [
            (0, "ok", [["r", "x", None], ["r", "z", [1]]]),
            (1, "ok", "ax1"),
            (1, "ok", "rz"),
            (2, "ok", "az1"),
        ],
        "serializable",
        set(),
    ),
    (
        f"{LA} checker-test contradictory read orders",
        "list-append",
        ["ax1 ry1", "ax2", "ax3 ay1", "rx13", "rx123"],
        "read-committed",
        {"G1c", "incompatible-order"},
    ),
    # --- list-append: internal-cases-test
    (
        f"{LA} internal-cases-test good",
        "list-append",
        ["ay5 ay6 ax1 ax2", "ry56 ax3 rx123 ax4 rx1234"],
        "serializable",
        set(),
    ),
    (
        f"{LA} internal-cases-test read-append-read stale",
        "list-append",
        ["ax1 ax2", "rx12 ax3 rx12"],
        "read-committed",
        {"internal"},
    ),
    (
        f"{LA} internal-cases-test append-read short read",
        "list-append",
        [[["append", "x", 3], ["r", "x", []]]],
        "read-committed",
        {"internal"},
    ),
    (
        f"{LA} internal-cases-test FaunaDB example: append 6 then read nil",
        "list-append",
        [[["append", 0, 6], ["r", 0, None]]],
        "read-committed",
        {"internal"},
    ),
    (
        f"{LA} internal-cases-test future read internal",
        "list-append",
        ["ax1 rx01 ax0 ax3"],
        "read-committed",
        {"internal"},
    ),
    # --- list-append: g1a/g1b-cases-test, graph-test
    (
        f"{LA} g1b-cases-test internal reads are fine",
        "list-append",
        ["ax1 rx1 ax2"],
        "serializable",
        set(),
    ),
    (
        f"{LA} graph-test serializable figure 3 from Adya, Liskov, O'Neil",
        "list-append",
        ["az1 ax1 ay1", "rx1 ay2", "ry12 az3", "rz13"],
        "strict-serializable",
        set(),
    ),
    # --- the paper's example (elle histories/paper-example.edn, VLDB 2020 figure 1):
    # T2 observes T1's append of 8 to key 255; T3 appended 3 to key 256 after T2's
    # append of 4; T3 read 255 without T1's 8: one rw edge, G-single.
    ("elle histories/paper-example.edn", "list-append", PAPER, "snapshot-isolation", {"G-single"}),
    (
        "elle histories/paper-example.edn: legal under read committed",
        "list-append",
        PAPER,
        "read-committed",
        set(),
    ),
    # --- rw-register: checker-test and wr-graph-test
    (
        f"{RW} checker-test G1a",
        "rw-register",
        ["rx1", (1, "fail", "wx1")],
        "read-committed",
        {"G1a"},
    ),
    (f"{RW} checker-test G1b", "rw-register", ["wx1 wx2", "rx1"], "read-committed", {"G1b"}),
    (f"{RW} g1b-cases-test good", "rw-register", ["wx1 wx2", "rx_ rx2"], "serializable", set()),
    (
        f"{RW} internal-cases-test stale",
        "rw-register",
        ["wx1", "rx1 wx2 rx1"],
        "read-committed",
        {"internal"},
    ),
    (
        f"{RW} internal-cases-test good",
        "rw-register",
        ["wx2 wy2", "ry2 wx3 rx3 wx1 rx1"],
        "serializable",
        set(),
    ),
    (
        f"{RW} wr-graph-test chain on one register",
        "rw-register",
        [[["r", "x", 0], ["w", "x", 1]], [["r", "x", 1], ["w", "x", 0]]],
        "read-committed",
        {"G0", "G1c"},
    ),
    (
        f"{RW} wr-graph-test chain across two registers",
        "rw-register",
        [[["r", "x", 0], ["w", "y", 1]], [["r", "y", 1], ["w", "x", 0]]],
        "read-committed",
        {"G1c"},
    ),
    (
        f"{RW} wr-graph-test write skew: legal under snapshot isolation",
        "rw-register",
        ["rx_ ry_ wx1", "rx_ ry_ wy1"],
        "snapshot-isolation",
        set(),
    ),
    (
        f"{RW} write skew is G2-item under serializable",
        "rw-register",
        ["rx_ ry_ wx1", "rx_ ry_ wy1"],
        "serializable",
        {"G2-item"},
    ),
]


@pytest.mark.parametrize("source,workload,specs,model,expected", CASES, ids=[c[0] for c in CASES])
def test_known_answer(source, workload, specs, model, expected):
    result = check_isolation(txn_history(specs, workload), workload, model)
    assert set(result.kinds) == expected, [a.explanation for a in result.anomalies]
    assert result.verdict == ("invalid" if expected else "valid")
    for a in result.anomalies:
        assert a.explanation and all(f"T{t}" in a.explanation for t in a.txns)


def test_cycle_explained_in_words():
    h = txn_history(["ax1 ry", "ay1 rx", "rx1 ry1"])
    (a,) = check_isolation(h, "list-append", "serializable").anomalies
    assert a.kind == "G2-item" and a.txns in ([0, 1, 0], [1, 0, 1])
    assert "T0 read 'y' empty, without T1's append of 1" in a.explanation
    assert "T1 read 'x' empty, without T0's append of 1" in a.explanation
    assert [s["type"] for s in a.steps] == ["rw", "rw"]


def test_duplicate_appends_are_a_bad_history():
    # list_append_test.clj graph-test "duplicate inserts attempts"
    with pytest.raises(HistoryError, match="unique per key"):
        check_isolation(txn_history(["ax1 ry", "ay2 ax1"]), "list-append")


def test_unknown_when_nothing_committed():
    h = txn_history([(0, "fail", "ax1"), (1, "info", "ax2")])
    r = check_isolation(h, "list-append", "serializable")
    assert r.verdict == "unknown" and "no transaction committed" in r.reason


def test_bank_total_and_negative():
    setup = [["w", "a", 10], ["w", "b", 10]]
    good = [
        setup,
        [["r", "a", 10], ["r", "b", 10], ["w", "a", 5], ["w", "b", 15]],
        [["r", "a", 5], ["r", "b", 15]],
    ]
    assert check_isolation(txn_history(good, "rw-register"), "bank").verdict == "valid"
    bad = [*good, [["r", "a", 5], ["r", "b", 10]], [["r", "a", -1]]]
    r = check_isolation(txn_history(bad, "rw-register"), "bank", "snapshot-isolation")
    assert set(r.kinds) == {"wrong-total", "negative-balance"}
    assert "summing to 15, not the total 20" in r.anomalies[0].explanation + " ".join(
        a.explanation for a in r.anomalies
    )


def test_lost_appends_counted_like_lost_writes():
    from chaoskit.checker.lost_writes import analyse_lost_writes

    # T1's append of 2 was acknowledged before the final read began, which lacks it;
    # T2's append of 3 ended info and shows up (recovered); 9 was never appended.
    h = txn_history(["ax1", "ax2", (5, "info", "ax3"), "rx139"])
    res = analyse_lost_writes(h, "list-append")
    assert [(w.key, w.value) for w in res.lost] == [("x", 2)]
    assert "missing from the final read of 'x'" in res.lost[0].reason
    assert [r.value for r in res.recovered] == [3]
    assert [u.value for u in res.unexpected] == [9]
    assert res.acknowledged == 2
    ok = analyse_lost_writes(txn_history(["ax1", "ax2", "rx12"]), "list-append")
    assert not ok.lost and ok.acknowledged == 2
