"""Generate transactional histories with known answers (property tests, benchmarks).

`simulate` runs random transactions against an in-memory store that applies each
one atomically at an instant inside its invocation window, so the history is
strict serializable by construction; some transactions fail (no effect) and some
end `info` (applied or not, at random). `INJECTIONS` are small groups of
transactions on keys of their own that produce one known anomaly class.
"""

from __future__ import annotations

import random
from typing import Any

from chaoskit.checker.history import History, Record, freeze, make_history


def simulate(
    seed: int,
    n_txns: int,
    workload: str = "list-append",
    keys: int = 5,
    max_len: int = 4,
    concurrency: int = 3,
    p_fail: float = 0.05,
    p_info: float = 0.05,
) -> list[dict[str, Any]]:
    """Events `{"process", "type", "value"}` of a strict serializable execution."""
    rng = random.Random(seed)
    store: dict[Any, Any] = {}
    counter = 0
    events: list[dict[str, Any]] = []
    running: list[tuple[int, list[list[Any]], bool]] = []  # (process, mops, applied)
    next_proc = concurrency
    free_procs = list(range(concurrency))

    def new_txn() -> list[list[Any]]:
        nonlocal counter
        mops = []
        for _ in range(rng.randint(1, max_len)):
            k = f"k{rng.randrange(keys)}"
            if rng.random() < 0.5:
                mops.append(["r", k, None])
            else:
                counter += 1
                mops.append(["append" if workload == "list-append" else "w", k, counter])
        return mops

    def apply(mops: list[list[Any]]) -> list[list[Any]]:
        out = []
        for f, k, v in mops:
            if f == "r":
                cur = store.get(k)
                out.append(["r", k, list(cur) if isinstance(cur, list) else cur])
            elif f == "append":
                store.setdefault(k, []).append(v)
                out.append([f, k, v])
            else:
                store[k] = v
                out.append([f, k, v])
        return out

    started = 0
    while started < n_txns or running:
        if free_procs and started < n_txns and (not running or rng.random() < 0.5):
            p = free_procs.pop(rng.randrange(len(free_procs)))
            mops = new_txn()
            events.append({"process": p, "type": "invoke", "value": mops})
            running.append((p, mops, False))
            started += 1
            continue
        i = rng.randrange(len(running))
        p, mops, applied = running[i]
        if not applied:
            x = rng.random()
            if x < p_fail:
                running.pop(i)
                events.append({"process": p, "type": "fail", "value": mops})
                free_procs.append(p)
                continue
            if x < p_fail + p_info:
                running.pop(i)
                if rng.random() < 0.5:
                    apply(mops)
                events.append({"process": p, "type": "info", "value": mops})
                free_procs.append(next_proc)  # after an info the client is a new process
                next_proc += 1
                continue
            running[i] = (p, apply(mops), True)  # takes effect now; completes later
            continue
        running.pop(i)
        events.append({"process": p, "type": "ok", "value": mops})
        free_procs.append(p)
    return events


def to_history(events: list[dict[str, Any]]) -> History:
    records = [
        Record(
            index=i,
            process=e["process"],
            type=e["type"],
            f="txn",
            key=None,
            value=freeze(e["value"]),
            time=i * 1_000_000,
            line=i + 1,
        )
        for i, e in enumerate(events)
    ]
    return make_history(records)


# name -> (list-append transactions on fresh keys p and q, the anomaly classes they yield
# under serializable). An intermediate read is also a G-single (the reader missed the
# writer's later append) and a lost update also a G-single cycle, as in Elle.
INJECTIONS: dict[str, tuple[list[Any], set[str]]] = {
    "G0": (["ap1 aq1", "ap2 aq2", "rp12 rq21"], {"G0"}),
    "G1a": ([("p", "fail", "ap1"), "rp1"], {"G1a"}),
    "G1b": (["ap1 ap2", "rp1"], {"G1b", "G-single"}),
    "G1c": (["ap1 rq1", "ap2 aq1", "rp12"], {"G1c"}),
    "G-single": (["ap1 aq1", "ap2 rq", "rp12"], {"G-single"}),
    "G2-item": (["ap1 rq", "aq1 rp", "rp1 rq1"], {"G2-item"}),
    "internal": (["rp ap1 rp"], {"internal"}),
    "lost-update": (["ap1", "rp1 ap2", "rp1 ap3", "rp123"], {"lost-update", "G-single"}),
    "garbage-read": (["rp9"], {"garbage-read"}),
    "duplicate-elements": (["ap1", "rp11"], {"duplicate-elements"}),
    "incompatible-order": (["ap1", "ap2", "rp12", "rp21"], {"incompatible-order"}),
}


# The same for rw-register (values unique per key; "_" reads nil). Its version order
# is only partly observable, so G0 and G1c need reads the injection cannot rely on.
INJECTIONS_RW: dict[str, tuple[list[Any], set[str]]] = {
    "G1a": ([("p", "fail", "wp1"), "rp1"], {"G1a"}),
    "G1b": (["wp1 wp2", "rp1"], {"G1b"}),
    "G-single": (["wp1 wq1", "rp1 rq_"], {"G-single"}),
    "G2-item": (["rp_ rq_ wp1", "rp_ rq_ wq1"], {"G2-item"}),
    "internal": (["wp1 rp_"], {"internal"}),
    "lost-update": (["wp1", "rp1 wp2", "rp1 wp3"], {"lost-update", "G2-item"}),
    "garbage-read": (["rp9"], {"garbage-read"}),
}


def inject(
    events: list[dict[str, Any]],
    name: str,
    seed: int,
    tag: str = "inj",
    workload: str = "list-append",
) -> list[dict[str, Any]]:
    """`events` with the transactions of INJECTIONS[name] (INJECTIONS_RW for
    rw-register) inserted serially at a random point (between two events), on keys
    `<tag>p`/`<tag>q` and processes of their own."""
    from chaoskit.testing.txn_histories import parse_txn

    rng = random.Random(seed)
    specs, _ = (INJECTIONS if workload == "list-append" else INJECTIONS_RW)[name]
    extra: list[dict[str, Any]] = []
    for n, spec in enumerate(specs):
        typ, body = "ok", spec
        if isinstance(spec, tuple):
            _, typ, body = spec
        mops = [[f, tag + k, v] for f, k, v in parse_txn(body, workload)]
        invoked = [[f, k, None] if f == "r" else [f, k, v] for f, k, v in mops]
        proc = f"{tag}-{n}"
        extra.append({"process": proc, "type": "invoke", "value": invoked})
        extra.append({"process": proc, "type": typ, "value": mops if typ == "ok" else invoked})
    at = rng.randint(0, len(events))  # any point: the injected keys are their own
    return events[:at] + extra + events[at:]
