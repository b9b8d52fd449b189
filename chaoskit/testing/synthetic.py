"""Write a realistic run directory without a cluster (for report tests and demos).

A simulated quorum register: the leader sits in the first region, every region's
clients reach it through their region's link (latency = the pair's RTT plus a
quorum round inside the leader's region), and a `cut-region` fault blackholes one
region's links, so its clients time out (`info`) until the heal. Reads return the
register's value at each operation's linearization point, so the history is
linearizable unless `stale_read` or `lose_writes` corrupts it on purpose.

`write_synthetic_run(dir)` writes history.jsonl, events.jsonl and experiment.yaml
at once; `stream_synthetic_run(dir)` appends the same records in real time (for
the live-metrics tail). Records follow docs/contracts.md.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.topology.model import Latency, Node, Region, Topology, Zone

NS = 1_000_000_000


@dataclass
class SyntheticSpec:
    regions: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            "beijing": {"bj-dc1": 2, "bj-dc2": 1},
            "shanghai": {"sh-dc1": 1},
            "xian": {"xa-dc1": 1},
        }
    )
    rtt_ms: dict[tuple[str, str], float] = field(
        default_factory=lambda: {
            ("beijing", "shanghai"): 28.0,
            ("beijing", "xian"): 20.0,
            ("shanghai", "xian"): 30.0,
        }
    )
    users_per_region: int = 2
    rate_per_user: float = 20.0  # ops/s
    duration_s: float = 12.0
    keys: int = 4
    cut_region: str | None = "xian"
    cut_at_s: float = 4.0
    cut_for_s: float = 4.0
    timeout_s: float = 1.0
    read_ratio: float = 0.5
    seed: int = 7
    stale_read: bool = False  # corrupt one read: the history is then not linearizable
    lose_writes: int = 0  # make the final reads miss the last N acknowledged writes of a key


def topology_of(spec: SyntheticSpec) -> Topology:
    regions, nodes = [], []
    for rname, zones in spec.regions.items():
        zs = tuple(Zone(z, rname, n) for z, n in zones.items())
        regions.append(Region(rname, rname, zs))
        i = 1
        for z in zs:
            for _ in range(z.nodes):
                nodes.append(Node(f"{rname}-{i}", rname, z.name, len(nodes)))
                i += 1
    lat = {tuple(sorted(k)): Latency(v, v * 0.05) for k, v in spec.rtt_ms.items()}
    return Topology(regions, nodes, {r: spec.users_per_region for r in spec.regions}, lat)


def _records(spec: SyntheticSpec) -> tuple[list[dict], list[dict]]:
    rnd = random.Random(spec.seed)
    topo = topology_of(spec)
    leader_region = topo.regions[0].name
    load_start = int(0.2 * NS)
    load_stop = load_start + int(spec.duration_s * NS)
    cut = None
    if spec.cut_region:
        a = load_start + int(spec.cut_at_s * NS)
        cut = (a, a + int(spec.cut_for_s * NS))
    ops = []  # (invoke, complete, lin_point or None, region, node, process, f, key, value, outcome)
    counter = 0
    proc = 0
    for region in spec.regions:
        rtt = topo.rtt(region, leader_region).rtt_ms
        for _u in range(spec.users_per_region):
            p = proc
            proc += 1
            t = load_start + int(rnd.uniform(0, 1 / spec.rate_per_user) * NS)
            while t < load_stop:
                key = f"k{rnd.randrange(spec.keys)}"
                if rnd.random() < spec.read_ratio:
                    f, value = "read", None
                else:
                    counter += 1
                    f, value = "write", counter
                node = f"{region}-{rnd.randrange(len(topo.nodes_in(region))) + 1}"
                lat_ms = rtt + 1.0 + rnd.expovariate(1 / 2.0) + abs(rnd.gauss(0, rtt * 0.05 + 0.3))
                blocked = cut is not None and region == spec.cut_region and cut[0] <= t < cut[1]
                if blocked:
                    comp = t + int(spec.timeout_s * NS)
                    ops.append([t, comp, None, region, node, p, f, key, value, "info"])
                    p = proc  # Jepsen's rule: after an info the user is a new process
                    proc += 1
                else:
                    comp = t + int(lat_ms * 1e6)
                    lin = t + int(rnd.uniform(0.2, 0.8) * (comp - t))
                    ops.append([t, comp, lin, region, node, p, f, key, value, "ok"])
                t = max(comp, t + int(NS / spec.rate_per_user)) + int(rnd.uniform(0, 0.005) * NS)
    # Linearize: apply operations in the order of their linearization points.
    state: dict[str, int | None] = {}
    results: dict[int, object] = {}
    for i in sorted((i for i, o in enumerate(ops) if o[2] is not None), key=lambda i: ops[i][2]):
        o = ops[i]
        if o[6] == "write":
            state[o[7]] = o[8]
            results[i] = o[8]
        else:
            results[i] = state.get(o[7])
    if spec.stale_read:
        # A read that returns the value before the latest write completed before it.
        writes = sorted((o[1], o[7], o[8]) for o in ops if o[6] == "write" and o[9] == "ok")
        for i, o in sorted(enumerate(ops), key=lambda x: x[1][0]):
            if o[6] != "read" or o[9] != "ok" or o[0] < load_start + 2 * NS:
                continue
            before = [w for w in writes if w[1] == o[7] and w[0] < o[0]]
            if len(before) >= 2 and results[i] == before[-1][2]:
                results[i] = before[-2][2]
                break
    finals = []
    t = load_stop + int(0.3 * NS)
    final_state = dict(state)
    if spec.lose_writes:
        key = "k0"
        ws = sorted((o[2], o[8]) for o in ops if o[6] == "write" and o[9] == "ok" and o[7] == key)
        keep = ws[: -spec.lose_writes]
        final_state[key] = keep[-1][1] if keep else None
    for region in spec.regions:
        for k in range(spec.keys):
            key = f"k{k}"
            rtt = topo.rtt(region, leader_region).rtt_ms
            comp = t + int((rtt + 1.5) * 1e6)
            finals.append([t, comp, proc, region, f"{region}-1", key, final_state.get(key)])
            t = comp + 1_000_000
        proc += 1
    history = []
    for i, o in enumerate(ops):
        t0, t1, _lin, region, node, p, f, key, value, outcome = o
        base = {"process": p, "f": f, "key": key, "region": region, "node": node}
        history.append({**base, "type": "invoke", "value": value, "time": t0})
        done = {
            **base,
            "type": outcome,
            "time": t1,
            "value": results.get(i, value) if f == "read" else value,
        }
        if outcome == "info":
            done["error"] = "timeout"
            done["value"] = value
        history.append(done)
    for t0, t1, p, region, node, key, value in finals:
        base = {
            "process": p,
            "f": "read",
            "key": key,
            "region": region,
            "node": node,
            "phase": "final",
        }
        history.append({**base, "type": "invoke", "value": None, "time": t0})
        history.append({**base, "type": "ok", "value": value, "time": t1})
    history.sort(key=lambda r: (r["time"], r["type"] == "invoke"))
    for i, r in enumerate(history):
        r["index"] = i
    events = [
        {"time": 0, "event": "run-start"},
        {"time": load_start, "event": "load-start"},
    ]
    if cut:
        links = [
            f"{src}->{n.name}:http"
            for src in spec.regions
            for n in topo.nodes
            if (src == spec.cut_region) != (n.region == spec.cut_region)
        ]
        events.append(
            {
                "time": cut[0],
                "event": "apply",
                "id": "f1",
                "fault": "cut-region",
                "params": {"region": spec.cut_region, "mode": "blackhole"},
                "targets": {"regions": [spec.cut_region], "nodes": [], "links": links},
                "source": "schedule",
            }
        )
        events.append(
            {
                "time": cut[1],
                "event": "heal",
                "id": "f1",
                "fault": "cut-region",
                "ok": True,
                "source": "schedule",
            }
        )
    events += [
        {"time": load_stop, "event": "load-stop"},
        {"time": load_stop + int(0.3 * NS), "event": "final-reads"},
        {"time": t + int(0.1 * NS), "event": "run-end"},
    ]
    return history, events


def experiment_yaml(spec: SyntheticSpec) -> str:
    doc = {
        "name": "synthetic",
        "description": "Synthetic run written by chaoskit.testing.synthetic (no cluster).",
        "backend": "local",
        "seed": spec.seed,
        "topology": {
            "regions": {r: {"location": r, "zones": z} for r, z in spec.regions.items()},
            "clients": {r: spec.users_per_region for r in spec.regions},
        },
        "system": {"kind": "geokv", "mode": "quorum"},
        "load": {"workload": "register", "keys": spec.keys, "duration": f"{spec.duration_s}s"},
        "checks": {"linearizable": True, "lost_writes": {"max": 0}},
    }
    if spec.cut_region:
        doc["schedule"] = [
            {
                "at": f"{spec.cut_at_s}s",
                "for": f"{spec.cut_for_s}s",
                "fault": "cut-region",
                "region": spec.cut_region,
            }
        ]
    return json.dumps(doc, indent=2)  # JSON is valid YAML


def write_synthetic_run(run_dir: str | Path, spec: SyntheticSpec | None = None) -> Path:
    spec = spec or SyntheticSpec()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    history, events = _records(spec)
    (run_dir / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run_dir / "experiment.yaml").write_text(experiment_yaml(spec))
    return run_dir


def stream_synthetic_run(
    run_dir: str | Path, spec: SyntheticSpec | None = None, stop: threading.Event | None = None
) -> threading.Thread:
    """Append the run's records in real time (record time = seconds since this call)."""
    spec = spec or SyntheticSpec()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    history, events = _records(spec)
    stop = stop or threading.Event()
    merged = sorted(
        [(r["time"], "history.jsonl", r) for r in history]
        + [(e["time"], "events.jsonl", e) for e in events],
        key=lambda x: x[0],
    )

    def run() -> None:
        t0 = time.monotonic_ns()
        files = {
            n: (run_dir / n).open("a", encoding="utf-8") for n in ("history.jsonl", "events.jsonl")
        }
        try:
            for t, name, rec in merged:
                while not stop.is_set():
                    wait = (t0 + t - time.monotonic_ns()) / NS
                    if wait <= 0:
                        break
                    time.sleep(min(wait, 0.05))
                if stop.is_set():
                    return
                files[name].write(json.dumps(rec) + "\n")
                files[name].flush()
        finally:
            for fh in files.values():
                fh.close()

    th = threading.Thread(target=run, name="synthetic-run", daemon=True)
    th.start()
    return th
