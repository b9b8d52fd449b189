"""Random histories (not produced by a linearizable register) against brute-force
oracles. The property tests in test_checker_property.py use simulated histories
with unique written values; these use tiny value domains, so values repeat (as in
the Jepsen etcd histories), ops end ok / info / fail or never, cas expects any
value, and most histories are NOT linearizable. The search's shortcuts (reads
commit, lazy pending writes, the value guard, pruning of unobserved info writes,
P-compositionality) must give exactly the oracle's verdict on every one."""

from __future__ import annotations

import itertools
import random

from test_checker_property import brute_force

from chaoskit.checker import check_linearizable
from chaoskit.checker.history import Op
from chaoskit.testing.histories import history_of


def _random_events(rng: random.Random, n_ops: int, n_procs: int, pick_op, pick_read, key: str):
    """Interleave `n_ops` operations of `n_procs` clients at random; each ends ok,
    info (the client continues as a new process) or fail, or never completes."""
    events: list[tuple] = []
    running: dict[int, tuple] = {}
    pids = list(range(n_procs))
    next_pid = 1000
    started = 0
    while started < n_ops or running:
        idle = [s for s in range(n_procs) if s not in running]
        if idle and started < n_ops and (not running or rng.random() < 0.5):
            s = rng.choice(idle)
            f, v = pick_op(rng)
            events.append((pids[s], "invoke", f, v, key))
            running[s] = (pids[s], f, v)
            started += 1
            continue
        s = rng.choice(list(running))
        p, f, v = running.pop(s)
        t = rng.choices(["ok", "info", "fail", "never"], [0.65, 0.15, 0.1, 0.1])[0]
        if t != "never":
            if t == "ok" and f in ("read", "get"):
                v = pick_read(rng)
            events.append((p, t, f, v, key))
        if t in ("info", "never"):
            pids[s] = next_pid  # a crashed client goes on as a new process
            next_pid += 1
    return events


def _register_op(vals: list, cas: bool):
    def pick(rng: random.Random) -> tuple:
        x = rng.random()
        if x < 0.4:
            return "read", None
        if x < 0.7 or not cas:
            return "write", rng.choice(vals)
        return "cas", [rng.choice([*vals, None]), rng.choice(vals)]

    return pick


def test_random_register_histories_with_repeated_values_agree_with_oracle() -> None:
    outcomes = {True: 0, False: 0}
    for seed in range(3000):
        rng = random.Random(seed)
        vals = [0, 1, 2][: rng.randint(1, 3)]
        cas = rng.random() < 0.7
        n_keys = rng.choice([1, 1, 2])
        initial = rng.choice([None, 0])
        per_key = []
        events: list[tuple] = []
        for k in range(n_keys):
            ev = _random_events(
                rng,
                rng.randint(2, 6 if n_keys == 1 else 4),
                rng.randint(1, 3),
                _register_op(vals, cas),
                lambda r, vals=vals: r.choice([*vals, None]),
                f"k{k}",
            )
            # distinct process ids per key, then interleave keys at random
            ev = [(p + 10_000 * k, *rest) for p, *rest in ev]
            per_key.append(ev)
        queues = [list(ev) for ev in per_key]
        while any(queues):
            q = rng.choice([q for q in queues if q])
            events.append(q.pop(0))
        h = history_of(events)
        by_key: dict = {}
        for op in h.ops:
            by_key.setdefault(op.key, []).append(op)
        # locality: linearizable iff every key is
        expected = all(brute_force(ops, initial=initial) for ops in by_key.values())
        outcomes[expected] += 1
        models = ["cas-register"] if cas else ["cas-register", "register"]
        for model in models:
            r = check_linearizable(h, model, initial=initial, timeout_s=20)
            want = "linearizable" if expected else "not-linearizable"
            assert r.verdict == want, (seed, model, initial, events, r.explanation)
    # not vacuous: both answers are common
    assert outcomes[True] > 800 and outcomes[False] > 800, outcomes


def _brute_force_kv(ops: list[Op]) -> bool:
    oks = [o for o in ops if o.type == "ok"]
    infos = [o for o in ops if o.type == "info" and o.f != "get"]

    def legal(seq) -> bool:
        s = ""
        for o in seq:
            if o.f == "get":
                if (o.output or "") != s:
                    return False
            elif o.f == "put":
                s = o.value
            else:
                s += o.value
        return True

    def respects_time(seq) -> bool:
        return all(
            not (b.ret is not None and b.ret < a.call)
            for i, a in enumerate(seq)
            for b in seq[i + 1 :]
        )

    for r in range(len(infos) + 1):
        for extra in itertools.combinations(infos, r):
            for perm in itertools.permutations(oks + list(extra)):
                if respects_time(perm) and legal(perm):
                    return True
    return False


def test_random_kv_histories_agree_with_oracle() -> None:
    def pick(rng: random.Random) -> tuple:
        x = rng.random()
        if x < 0.4:
            return "get", None
        if x < 0.7:
            return "put", rng.choice(["a", "b", ""])
        return "append", rng.choice(["a", "b"])

    outcomes = {True: 0, False: 0}
    for seed in range(2000):
        rng = random.Random(seed)
        events = _random_events(
            rng,
            rng.randint(2, 6),
            rng.randint(1, 3),
            pick,
            lambda r: r.choice(["", "a", "b", "ab", "ba", "aa", None]),
            "k",
        )
        h = history_of(events)
        expected = _brute_force_kv(h.ops)
        outcomes[expected] += 1
        r = check_linearizable(h, "kv", timeout_s=20)
        assert r.verdict == ("linearizable" if expected else "not-linearizable"), (seed, events)
    assert outcomes[True] > 500 and outcomes[False] > 500, outcomes
