"""Property tests for the isolation checker: a strict serializable execution (random
concurrency, failures and indeterminate transactions) never yields an anomaly under
any consistency model; injecting one known anomaly yields exactly its classes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit.checker.isolation import check_isolation
from chaoskit.checker.isolation.consistency import CONSISTENCY
from chaoskit.testing.txn_simulate import (
    INJECTIONS,
    INJECTIONS_RW,
    inject,
    simulate,
    to_history,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 80),
    keys=st.integers(1, 6),
    concurrency=st.integers(1, 6),
    workload=st.sampled_from(["list-append", "rw-register"]),
    model=st.sampled_from(sorted(CONSISTENCY)),
)
def test_serial_execution_has_no_anomaly(seed, n, keys, concurrency, workload, model):
    events = simulate(seed, n, workload, keys=keys, concurrency=concurrency, p_info=0.1)
    result = check_isolation(to_history(events), workload, model)
    found = [a.explanation for a in result.anomalies + result.allowed]
    assert not found
    assert result.verdict in ("valid", "unknown")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(0, 60),
    name=st.sampled_from(sorted(INJECTIONS)),
)
def test_injected_anomaly_is_found_exactly(seed, n, name):
    events = inject(simulate(seed, n, keys=3, concurrency=3), name, seed)
    result = check_isolation(to_history(events), "list-append", "serializable")
    _, expected = INJECTIONS[name]
    assert {a.kind for a in result.anomalies + result.allowed} == expected
    assert result.verdict == "invalid"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(0, 60),
    name=st.sampled_from(sorted(INJECTIONS_RW)),
)
def test_injected_register_anomaly_is_found_exactly(seed, n, name):
    events = simulate(seed, n, "rw-register", keys=3, concurrency=3)
    events = inject(events, name, seed, workload="rw-register")
    result = check_isolation(to_history(events), "rw-register", "serializable")
    _, expected = INJECTIONS_RW[name]
    assert {a.kind for a in result.anomalies + result.allowed} == expected
    assert result.verdict == "invalid"
