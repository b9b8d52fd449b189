"""The experiment's load section becomes the load package's WorkloadSpec correctly."""

from __future__ import annotations

import random

import pytest

from chaoskit.engine import workload_spec
from chaoskit.experiment import load_experiment_text
from chaoskit.load.workloads import UniqueValues, Workload

BASE = """
name: w
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
load: {workload: cas-register, keys: 2, duration: 5s, read_ratio: %s, cas_ratio: %s}
"""


@pytest.mark.parametrize(
    ("read", "cas", "want_cas"), [(0.5, 0.5, 0.25), (0.8, 0.5, 0.1), (0.0, 1.0, 1.0)]
)
def test_cas_ratio_is_a_share_of_the_non_reads(read: float, cas: float, want_cas: float) -> None:
    exp = load_experiment_text(BASE % (read, cas))
    w = workload_spec(exp.load, exp.seed)
    assert w.read_ratio == pytest.approx(read)
    assert w.cas_ratio == pytest.approx(want_cas)


def test_default_cas_register_mix_has_reads_writes_and_cas() -> None:
    """With the defaults a cas-register run used to make no plain writes at all, and
    read_ratio 0.8 with the default cas_ratio failed the run with a PlanError."""
    for read in (0.5, 0.8):
        exp = load_experiment_text(BASE % (read, 0.5))
        spec = workload_spec(exp.load, exp.seed)
        w = Workload(spec, UniqueValues(), random.Random(1))
        seen: dict[str, int] = {}
        for _ in range(4000):
            f, key, value = w.next_op()
            seen[f] = seen.get(f, 0) + 1
            w.observe(f, key, "ok", 7 if f == "read" else value)
        assert set(seen) == {"read", "write", "cas"}, (read, seen)
        assert seen["read"] / 4000 >= read - 0.05
