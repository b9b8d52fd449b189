"""Transactional workloads in an experiment: `load.txn` (`checks.isolation` is
chaoskit/checks/isolation.py).

load:
  workload: list-append          # or rw-register, bank
  keys: 4
  txn: {length: [1, 4], key_dist: exponential, max_writes_per_key: 32}
checks:
  isolation: serializable        # or {consistency: snapshot-isolation}
"""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import LoadSpec
from chaoskit.experiment.validate.context import Context, show
from chaoskit.load.txn_workloads import KEY_DISTRIBUTIONS, TXN_WORKLOADS

TXN_FIELDS = ("length", "key_dist", "max_writes_per_key", "max_transfer")


def txn_options(v: Context, path: PathT, raw: Any, load: LoadSpec) -> dict | None:
    """`load.txn` as TxnSpec fields ({} for the defaults)."""
    if load.workload not in TXN_WORKLOADS:
        v.err(
            path,
            f"txn only applies to the transactional workloads ({', '.join(TXN_WORKLOADS)}), "
            f"not {load.workload!r}",
        )
        return None
    m = v.mapping(path, raw, TXN_FIELDS, "txn")
    if m is None:
        return None
    out: dict[str, Any] = {}
    if "length" in m:
        n = m["length"]
        lo_hi = [n, n] if isinstance(n, int) and not isinstance(n, bool) else n
        if (
            not isinstance(lo_hi, list)
            or len(lo_hi) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in lo_hi)
            or not 1 <= lo_hi[0] <= lo_hi[1]
        ):
            v.err(
                (*path, "length"),
                f"expected micro-operations per transaction as a whole number >= 1 or "
                f"[min, max] with 1 <= min <= max; got {show(n)}",
            )
        else:
            out["min_len"], out["max_len"] = lo_hi
    if "key_dist" in m:
        d = v.choice((*path, "key_dist"), m["key_dist"], KEY_DISTRIBUTIONS, "key_dist")
        if d:
            out["key_dist"] = d
    for name in ("max_writes_per_key", "max_transfer"):
        if name in m:
            x = v.number((*path, name), m[name], lo=1, integer=True)
            if x is not None:
                out[name] = int(x)
    if load.workload == "bank" and load.keys < 2:
        v.err(("load", "keys"), "bank needs at least 2 accounts (load.keys)")
    return out
