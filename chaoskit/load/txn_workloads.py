"""Transactional workloads: the transaction a user runs next, as Jepsen/Elle write it.

  list-append  micro-ops ["r", k, None] / ["append", k, v]; every appended value is
               unique (UniqueValues), so unique per key
  rw-register  ["r", k, None] / ["w", k, v] with unique written values
  bank         transfers ["r", a, None], ["r", b, None], ["w", a, -amount],
               ["w", b, +amount] (the client fills in reads and the new balances) and
               audits reading every account

Keys follow a uniform or exponential ("hot keys": key i drawn with weight 2^-i)
distribution over `keys` active keys. A key that got `max_writes_per_key` writes
from a user is retired and a fresh key takes its place, as in Elle's generator:
version orders stay short, so checking stays linear in history length.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from chaoskit.checker.isolation import TXN_MODELS

TXN_WORKLOADS = tuple(TXN_MODELS)
KEY_DISTRIBUTIONS = ("uniform", "exponential")


@dataclass
class TxnSpec:
    workload: str = "list-append"
    keys: int = 4  # active keys (bank: accounts)
    min_len: int = 1  # micro-operations per transaction
    max_len: int = 4
    read_ratio: float = 0.5  # share of reads among micro-operations (bank: of audits)
    key_dist: str = "uniform"
    max_writes_per_key: int = 32  # list-append / rw-register: then a fresh key
    max_transfer: int = 5  # bank

    def problems(self) -> list[tuple[str, str]]:
        """(field, message naming what is valid) for each mistake; [] when fine."""
        out = []
        if self.workload not in TXN_WORKLOADS:
            out.append(("workload", f"{self.workload!r} is not one of {', '.join(TXN_WORKLOADS)}"))
        if self.keys < (2 if self.workload == "bank" else 1):
            out.append(("keys", f"{self.keys}: needs at least 1 key (bank: 2 accounts)"))
        if not 1 <= self.min_len <= self.max_len:
            out.append(("txn_len", f"[{self.min_len}, {self.max_len}]: need 1 <= min <= max"))
        if self.key_dist not in KEY_DISTRIBUTIONS:
            out.append(("key_dist", f"{self.key_dist!r}; valid: {', '.join(KEY_DISTRIBUTIONS)}"))
        if self.max_writes_per_key < 1:
            out.append(("max_writes_per_key", f"{self.max_writes_per_key} must be >= 1"))
        if not 0.0 <= self.read_ratio <= 1.0:
            out.append(("read_ratio", f"{self.read_ratio} must be between 0 and 1"))
        return out


class TxnGenerator:
    """The transactions of one user. `next_value` gives run-wide unique values."""

    def __init__(self, spec: TxnSpec, next_value: Any, rng: random.Random) -> None:
        bad = spec.problems()
        if bad:
            raise ValueError("; ".join(f"{f}: {m}" for f, m in bad))
        self.spec, self.next_value, self.rng = spec, next_value, rng
        self.active = list(range(spec.keys))  # key ids by position (position 0 hottest)
        self.fresh = spec.keys  # the next unused key id
        self.writes: dict[int, int] = {}
        weights = [1.0] * spec.keys
        if spec.key_dist == "exponential":
            weights = [2.0**-i for i in range(spec.keys)]
        self.cum = list(accumulate(weights))

    def accounts(self) -> list[str]:
        return [f"a{i}" for i in range(self.spec.keys)]

    def _slot(self) -> int:
        return self.rng.choices(range(self.spec.keys), cum_weights=self.cum)[0]

    def next(self) -> list[list[Any]]:
        s, r = self.spec, self.rng
        if s.workload == "bank":
            return self._bank()
        write_f = "append" if s.workload == "list-append" else "w"
        mops: list[list[Any]] = []
        for _ in range(r.randint(s.min_len, s.max_len)):
            slot = self._slot()
            k = self.active[slot]
            if r.random() < s.read_ratio:
                mops.append(["r", f"k{k}", None])
                continue
            mops.append([write_f, f"k{k}", self.next_value()])
            self.writes[k] = self.writes.get(k, 0) + 1
            if self.writes[k] >= s.max_writes_per_key:  # retired: a fresh key takes its slot
                self.writes.pop(k)
                self.active[slot] = self.fresh
                self.fresh += 1
        return mops

    def _bank(self) -> list[list[Any]]:
        s, r = self.spec, self.rng
        accts = self.accounts()
        if r.random() < s.read_ratio:
            return [["r", a, None] for a in accts]
        a, b = r.sample(accts, 2)
        amount = r.randint(1, s.max_transfer)
        return [["r", a, None], ["r", b, None], ["w", a, -amount], ["w", b, amount]]

    def final(self) -> list[list[Any]]:
        """The final-read transaction: every key of the window (bank: every account)."""
        if self.spec.workload == "bank":
            return [["r", a, None] for a in self.accounts()]
        return [["r", f"k{k}", None] for k in self.active]
