"""Keys checked in forked processes give the verdict and explanation one process gives."""

from __future__ import annotations

import pytest

from chaoskit.checker import check_linearizable
from chaoskit.checker.linearizability import PARALLEL_MIN_OPS
from chaoskit.checker.parallel import ordered_map
from chaoskit.testing.histories import history_of
from chaoskit.testing.simulate import simulate


def _events(corrupt_key: str | None) -> list[tuple]:
    events = simulate(seed=11, n_ops=2 * PARALLEL_MIN_OPS, n_procs=12, keys=8)
    if corrupt_key is None:
        return events
    # one ok read of that key returns a value nobody wrote: a violation on that key
    for i, (proc, typ, f, _v, key) in enumerate(events):
        if typ == "ok" and f == "read" and key == corrupt_key:
            events[i] = (proc, typ, f, 10**9, key)
            return events
    raise AssertionError(f"no ok read of {corrupt_key}")


@pytest.mark.parametrize("corrupt", [None, "k5"])
def test_parallel_keys_agree_with_one_process(corrupt: str | None) -> None:
    h = history_of(_events(corrupt))
    one = check_linearizable(h, "cas-register", jobs=1)
    two = check_linearizable(h, "cas-register", jobs=2)
    assert one.verdict == ("linearizable" if corrupt is None else "not-linearizable")
    assert one.failing_key == corrupt
    assert (two.verdict, two.failing_key, two.keys_checked, two.explanation) == (
        one.verdict,
        one.failing_key,
        one.keys_checked,
        one.explanation,
    )
    assert [k.key for k in two.per_key] == [k.key for k in one.per_key]


def test_ordered_map_keeps_order_and_raises_in_place() -> None:
    def fn(i: int) -> int:
        if i == 3:
            raise ValueError("three")
        return i * i

    got = []
    with pytest.raises(ValueError, match="three"):
        for x in ordered_map(fn, 6, 2):
            got.append(x)
    assert got == [0, 1, 4]
