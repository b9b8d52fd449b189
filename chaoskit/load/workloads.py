"""Workloads: which operation a user does next.

Every written value (register write, cas new value, set element) is unique across
the run, so a lost acknowledged write is identifiable by its value. Values come
from `UniqueValues`: a per-process counter interleaved with the worker index, so
workers never collide without talking to each other.
"""

from __future__ import annotations

import random
from typing import Any

from chaoskit.load.plan import WorkloadSpec


class UniqueValues:
    """1, 2, 3, ... in one process; n * stride + slot across `stride` workers."""

    def __init__(self, slot: int = 0, stride: int = 1) -> None:
        if stride < 1 or slot < 0:
            raise ValueError("stride must be >= 1 and slot >= 0")
        self.slot, self.stride = slot, stride
        self._n = 0

    def next(self) -> int:
        self._n += 1
        if self.slot < self.stride:
            return self._n * self.stride + self.slot - self.stride + 1
        # a worker index beyond the planned count (a worker reconnected): its own range
        return self.slot * 1_000_000_000 + self._n


def key_names(n: int) -> list[str]:
    return [f"k{i}" for i in range(n)]


class Workload:
    """Chooses (f, key, value) for one user; `observe` feeds back read results."""

    def __init__(self, spec: WorkloadSpec, values: UniqueValues, rng: random.Random) -> None:
        self.spec = spec
        self.values = values
        self.rng = rng
        self.keys = key_names(spec.keys)
        self.last_read: dict[str, Any] = {}  # key -> last value this user read (for cas)
        self.txn = txn_generator(spec, values, rng)

    def next_op(self) -> tuple[str, Any, Any]:
        if self.txn is not None:
            return "txn", None, self.txn.next()
        s, r = self.spec, self.rng
        key = r.choice(self.keys)
        x = r.random()
        if s.workload == "set":
            if x < s.read_ratio:
                return "read-all", key, None
            return "add", key, self.values.next()
        if x < s.read_ratio:
            return "read", key, None
        if s.workload == "cas-register" and x < s.read_ratio + s.cas_ratio:
            if key not in self.last_read:
                return "read", key, None  # cas needs an expected value: read first
            return "cas", key, [self.last_read[key], self.values.next()]
        return "write", key, self.values.next()

    def observe(self, f: str, key: str, type_: str, value: Any) -> None:
        if f == "read" and type_ == "ok":
            self.last_read[key] = value
        elif f in ("write", "cas"):
            # after our own write the register holds something else; forget the stale read
            self.last_read.pop(key, None)
            if type_ == "ok":
                self.last_read[key] = value[1] if f == "cas" else value


def txn_generator(spec: WorkloadSpec, values: UniqueValues, rng: random.Random) -> Any:
    """The transaction generator of a transactional workload (None for the others)."""
    from chaoskit.load.txn_workloads import TXN_WORKLOADS, TxnGenerator, TxnSpec

    if spec.workload not in TXN_WORKLOADS:
        return None
    txn = TxnSpec(spec.workload, keys=spec.keys, read_ratio=spec.read_ratio, **(spec.txn or {}))
    return TxnGenerator(txn, values.next, rng)


def final_ops(workload: str, keys: int) -> list[tuple[str, Any, Any]]:
    """The final-read phase: read every key (register) or read-all every set; one
    transaction reading the initial keys (transactional workloads)."""
    from chaoskit.load.txn_workloads import TXN_WORKLOADS, TxnGenerator, TxnSpec

    if workload in TXN_WORKLOADS:
        gen = TxnGenerator(TxnSpec(workload, keys=keys), lambda: 0, random.Random(0))
        return [("txn", None, gen.final())]
    f = "read-all" if workload == "set" else "read"
    return [(f, k, None) for k in key_names(keys)]
