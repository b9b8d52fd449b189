"""Soak (run by hand): N back-to-back `chaoskit run`s of shipped experiments, some
interrupted at a random moment, counting what the harness must never do.

    .venv/bin/python benchmarks/soak.py --local 50 --docker 10     # the full soak
    .venv/bin/python benchmarks/soak.py --local 4 --docker 1       # a quick look

Each run is a real `chaoskit run` (short load via --set). A seeded third of them get
SIGINT (or SIGTERM) at a random moment. After every run the soak counts:

- verdict changes: an uninterrupted run whose exit code differs from the first
  uninterrupted run of the same experiment and backend (0 pass, 1 expected fail);
- unexpected verdicts: an interrupted run not ending 3 with INCOMPLETE, an
  uninterrupted one ending 3 (broken);
- leftovers: processes below the harness still alive (a listening port left
  behind needs one), chaoskit-labelled containers / networks / volumes of the run,
  the run's /tmp entries (local pid registry, docker work directory);
- run-time drift: wall time of the uninterrupted runs, first vs last third.

Prints one line per run and a table of figures at the end; exit 1 if anything
was left behind, a verdict was unexpected or changed. The runs' results stay in
the printed directory (remove it when done).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.testing.procs import alive, descendants

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")

# experiment, its short-run overrides, expected exit code when not interrupted. At
# least 4 s of load follow each heal: the RTO needs two steady 1 s windows after the
# region is served again, and on a busy machine that can come a second after the heal.
LOCAL = [
    ("smoke.yaml", ["load.duration=8s", "schedule.0.at=1s", "schedule.0.for=3s"], 0),
    ("unitised.yaml", ["load.duration=10s", "schedule.0.at=2s", "schedule.0.for=4s"], 0),
]
DOCKER = [
    ("smoke.yaml", ["load.duration=8s", "schedule.0.at=1s", "schedule.0.for=3s"], 0),
]


@dataclass
class Figures:
    runs: int = 0
    interrupted: int = 0
    verdict_changes: int = 0
    unexpected: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    times: dict[str, list[float]] = field(default_factory=dict)


def run_tmp_entries(run_id: str) -> list[str]:
    """Temporary directories a run of this id would leave (pid registry, docker work dir)."""
    from chaoskit.backends.docker.backend import short_run_id

    tmp = Path(tempfile.gettempdir())
    found = [
        tmp / "chaoskit-local" / run_id,
        *tmp.glob(f"chaoskit-docker-{short_run_id(run_id)}-*"),
    ]
    return [str(p) for p in found if p.exists()]


def docker_leftovers(run_id: str) -> list[str]:
    from chaoskit.testing.docker import leftovers

    return leftovers(run_id)


def one_run(
    backend: str, exp: str, sets: list[str], results: Path, interrupt_at: float | None, sig: int
) -> tuple[int, float, Path | None, list[str]]:
    argv = [CHAOSKIT, "run", str(ROOT / "experiments" / exp), "--backend", backend]
    for s in sets:
        argv += ["--set", s]
    argv += ["--results", str(results), "--quiet"]
    t = time.monotonic()
    p = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    kids: set[int] = set()
    if interrupt_at is not None:
        end = t + interrupt_at
        while time.monotonic() < end and p.poll() is None:
            kids |= descendants(p.pid)
            time.sleep(0.1)
        if p.poll() is None:
            p.send_signal(sig)
    while p.poll() is None:
        kids |= descendants(p.pid)
        time.sleep(0.2)
    out, _ = p.communicate()
    took = time.monotonic() - t
    lines = out.strip().splitlines()
    run_dir = Path(lines[-1]) if lines and Path(lines[-1]).is_dir() else None
    # A port left listening needs a live process: counted with the processes.
    left = [f"process {k}" for k in kids if alive(k)]
    teardown = _teardown_event(run_dir) if run_dir is not None else None
    if teardown is not None:
        rid = teardown["run_id"]
        left += [f"tmp {x}" for x in run_tmp_entries(rid)]
        if backend == "docker":
            left += [f"docker {x}" for x in docker_leftovers(rid)]
    elif run_dir is not None and (run_dir / "events.jsonl").exists():
        if any('"topology up"' in x for x in (run_dir / "events.jsonl").read_text().splitlines()):
            left.append("no teardown event after the topology came up")
    return p.returncode, took, run_dir, left


def _teardown_event(run_dir: Path) -> dict | None:
    try:
        for line in (run_dir / "events.jsonl").read_text().splitlines():
            e = json.loads(line)
            if e.get("event") == "teardown":
                return e
    except (OSError, ValueError):
        return None
    return None


def soak(n_local: int, n_docker: int, seed: int, share: float) -> Figures:
    rng = random.Random(seed)
    fig = Figures()
    first: dict[str, int] = {}
    plan = [("local", LOCAL[i % len(LOCAL)]) for i in range(n_local)]
    plan += [("docker", DOCKER[i % len(DOCKER)]) for i in range(n_docker)]
    # Kept: the results of a surprising run are what explains it.
    results = tempfile.mkdtemp(prefix="chaoskit-soak-results-")
    print(f"results in {results}", flush=True)
    for i, (backend, (exp, sets, expected)) in enumerate(plan):
        interrupt_at = rng.uniform(0.5, 8.0) if rng.random() < share else None
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        code, took, run_dir, left = one_run(backend, exp, sets, Path(results), interrupt_at, sig)
        key = f"{backend} {exp}"
        fig.runs += 1
        what = "ran"
        if interrupt_at is not None and code == 3:
            fig.interrupted += 1
            what = f"{signal.Signals(sig).name} at {interrupt_at:.1f}s"
            if run_dir is not None and not (run_dir / "INCOMPLETE").exists():
                fig.unexpected.append(f"run {i}: interrupted without INCOMPLETE")
        elif code == 3:
            fig.unexpected.append(f"run {i} ({key}): broken (exit 3) {run_dir}")
        else:
            fig.times.setdefault(key, []).append(took)
            if expected is not None and code != expected:
                fig.unexpected.append(f"run {i} ({key}): exit {code}, expected {expected}")
            if first.setdefault(key, code) != code:
                fig.verdict_changes += 1
        fig.leftovers += [f"run {i}: {x}" for x in left]
        print(
            f"{i:3d} {key:24s} {what:18s} exit {code} {took:6.1f}s"
            + (f"  LEFT {left}" if left else ""),
            flush=True,
        )
    return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--local", type=int, default=50)
    ap.add_argument("--docker", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interrupt-share", type=float, default=1 / 3)
    a = ap.parse_args()
    fig = soak(a.local, a.docker, a.seed, a.interrupt_share)
    print(f"\nruns {fig.runs}, interrupted {fig.interrupted}")
    print(f"verdict changes: {fig.verdict_changes}")
    print(f"unexpected verdicts: {len(fig.unexpected)}")
    for u in fig.unexpected:
        print(f"  {u}")
    print(f"leftovers: {len(fig.leftovers)}")
    for x in fig.leftovers:
        print(f"  {x}")
    for key, ts in fig.times.items():
        k = max(1, len(ts) // 3)
        head, tail = sum(ts[:k]) / k, sum(ts[-k:]) / k
        print(
            f"run time {key}: n={len(ts)} mean {sum(ts) / len(ts):.1f}s, "
            f"first third {head:.1f}s, last third {tail:.1f}s, drift {tail / head:.2f}x"
        )
    return 1 if fig.unexpected or fig.leftovers or fig.verdict_changes else 0


if __name__ == "__main__":
    sys.exit(main())
