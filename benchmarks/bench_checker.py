"""Checker benchmark: whole `chaoskit check` commands, as a user waits for them.

1. Reference sets, side by side with Porcupine when its test binary is named
   (`--porcupine PATH`; built from Porcupine's public source with Debian's Go, see
   docs/checker.md): Porcupine's 102 Jepsen etcd histories and its kv histories
   c01-c50, `chaoskit check` vs Porcupine's own test on the same data, interleaved
   and repeated in one run. Wall time (median) and CPU time (user + system, median)
   of each command; ratio chaoskit / Porcupine (goal <= 1.0).
2. Scaling: generated linearizable cas-register histories of 10^4, 10^5 (and with
   --full 10^6) operations over 10-1,000 keys, each checked by a whole command;
   wall time, CPU time and peak memory (max RSS of the command), and the growth
   factor per decade of operations (goal: 10, linear); and the same file checked
   with --low-memory (streamed, key by key): its max RSS and CPU time against the
   default mode's.
3. The isolation checker: generated strict serializable list-append histories of
   10^3 / 10^4 (--full: and 10^5) transactions, the same figures per decade
   (goal: linear, 100,000 transactions well under a minute).

    .venv/bin/python -m benchmarks.bench_checker [--porcupine /path/to/porcupine.test]
        [--histories DIR] [--rounds 5] [--full] [--only reference|scaling|isolation]

The reference histories: --histories, else $CHAOSKIT_REFERENCE_HISTORIES, else
shared/reference-histories beside the checkout. Porcupine's binary is run in its
own directory (it reads test_data/ from there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.table import Row, interleaved, median, render

REPO = Path(__file__).resolve().parents[1]
# the installed console script, as users run it (else the same entry point via -c)
_SCRIPT = Path(sys.executable).parent / "chaoskit"
CHAOSKIT = (
    [str(_SCRIPT)]
    if _SCRIPT.is_file()
    else [sys.executable, "-c", "import sys; from chaoskit.cli import main; sys.exit(main())"]
)
# Python's bytecode cache on, as an installed package has it: with
# PYTHONDONTWRITEBYTECODE=1 every start would compile chaoskit's modules again
# (~25 ms), which no Go binary pays either. A warm-up run writes the cache.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ETCD_TESTS = "^TestEtcdJepsen"
KV_TESTS = "^TestKv(1Client|10Clients|50Clients)(Ok|Bad)$"


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    max_rss_mib: float
    code: int


def run(argv: list[str], cwd: Path | None = None) -> Run:
    """One whole command: wall time, CPU time and peak memory of that process alone."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.stderr:
        p.stderr.close()
    code = p.returncode
    if code not in (0, 1):  # 1: a violation found, which these sets contain
        raise SystemExit(f"{' '.join(argv[:4])} ... exited {code}: {err[-1500:]}")
    return Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, code)


def histories_root(given: str | None) -> Path | None:
    for cand in (given, os.environ.get("CHAOSKIT_REFERENCE_HISTORIES")):
        if cand:
            return Path(cand)
    beside = REPO.parent.parent / "shared" / "reference-histories"
    return beside if beside.is_dir() else None


def reference(root: Path, porcupine: Path | None, rounds: int) -> list[Row]:
    etcd = sorted(f for f in (root / "porcupine" / "jepsen").glob("etcd_*.log") if f.stat().st_size)
    kv = sorted(
        f for f in (root / "porcupine" / "kv").glob("c*.txt") if f.stem[:3] in ("c01", "c10", "c50")
    )
    if not etcd or not kv:
        raise SystemExit(f"{root}: no porcupine/jepsen/etcd_*.log or porcupine/kv/c*.txt")
    sets = {
        f"{len(etcd)} etcd histories": ([*CHAOSKIT, "check", *map(str, etcd)], ETCD_TESTS),
        f"kv c01-c50 ({len(kv)} histories)": ([*CHAOSKIT, "check", *map(str, kv)], KV_TESTS),
    }
    rows: list[Row] = []
    for name, (ours, tests) in sets.items():
        cands = {"chaoskit": lambda ours=ours: run(ours)}
        if porcupine is not None:
            cands["porcupine"] = lambda tests=tests: run(
                [str(porcupine), "-test.run", tests], cwd=porcupine.parent
            )
        interleaved(1, cands)  # warm-up: bytecode cache, page cache
        got = interleaved(rounds, cands)
        wall = {k: median([r.wall_s for r in v]) for k, v in got.items()}
        cpu = {k: median([r.cpu_s for r in v]) for k, v in got.items()}
        if porcupine is None:
            rows.append(
                Row(
                    "checker",
                    f"chaoskit check, {name}",
                    wall["chaoskit"],
                    "s",
                    "(no Porcupine)",
                    float("nan"),
                    False,
                )
            )
            continue
        rows.append(
            Row(
                "checker",
                f"chaoskit check, {name}, wall",
                wall["chaoskit"],
                "s",
                "Porcupine test",
                wall["porcupine"],
                False,
                1.0,
            )
        )
        rows.append(
            Row(
                "checker",
                f"chaoskit check, {name}, CPU",
                cpu["chaoskit"],
                "s",
                "Porcupine test",
                cpu["porcupine"],
                False,
                1.0,
            )
        )
    return rows


def generate(kind: str, path: Path, n: int, keys: int = 0) -> None:
    """Write a generated history in a child process: the max RSS the kernel reports
    for a command includes its parent's at the fork, so this process stays small."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_checker",
            "--generate",
            kind,
            str(path),
            str(n),
            str(keys),
        ],
        check=True,
        cwd=REPO,
    )


def write_generated(path: Path, n_ops: int, keys: int) -> int:
    """A linearizable cas-register history (real registers, crashes included)."""
    from chaoskit.testing.simulate import simulate

    events = simulate(seed=n_ops + keys, n_ops=n_ops, n_procs=max(20, keys // 10), keys=keys)
    with path.open("w") as fh:
        for i, (proc, typ, f, v, key) in enumerate(events):
            rec = {
                "index": i,
                "process": proc,
                "type": typ,
                "f": f,
                "key": key,
                "value": v,
                "time": i * 1000,
            }
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return len(events)


SCALES_SMOKE = [(1_000, 10), (10_000, 100)]
SCALES_QUICK = [(10_000, 10), (100_000, 100)]
SCALES_FULL = [(10_000, 10), (100_000, 100), (1_000_000, 1_000), (100_000, 10)]


def scaling(full: bool, jobs: int | None = None, smoke: bool = False) -> list[Row]:
    """Whole-command time and memory per history size; each row's baseline is the
    size one decade smaller with the same ops per key (ratio goal: 10x, linear)."""
    rows: list[Row] = []
    done: dict[tuple[int, int], Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-checker-") as tmp:
        for n, keys in SCALES_SMOKE if smoke else SCALES_FULL if full else SCALES_QUICK:
            path = Path(tmp) / f"h-{n}-{keys}.jsonl"
            generate("ops", path, n, keys)
            argv = [*CHAOSKIT, "check", str(path), "--model", "cas-register", "--timeout", "10m"]
            if jobs:
                argv += ["--jobs", str(jobs)]
            r = run(argv)
            if r.code != 0:
                raise SystemExit(f"{path}: generated history not judged linearizable")
            done[(n, keys)] = r
            low = run([*argv, "--low-memory"])
            if low.code != 0:
                raise SystemExit(f"{path}: --low-memory did not judge it linearizable")
            for mode, x in (("", r), (" --low-memory", low)):
                print(
                    f"  {n:>9,} ops, {keys:>5} keys{mode}: {x.wall_s:7.2f} s wall, "
                    f"{x.cpu_s:7.2f} s CPU, max RSS {x.max_rss_mib:7.0f} MiB",
                    file=sys.stderr,
                )
            # one decade smaller: as many ops per key (10x the keys), else as many keys
            smaller = [(n // 10, keys // 10), (n // 10, keys)]
            prev = next((done[k] for k in smaller if k in done), None)
            base = next((f"{k[0]:,} ops / {k[1]} keys" for k in smaller if k in done), "")
            what = f"{n:,} ops / {keys} keys"
            nan = float("nan")
            rows.append(
                Row(
                    "checker",
                    f"check {what}, wall",
                    r.wall_s,
                    "s",
                    base,
                    prev.wall_s if prev else nan,
                    False,
                    10.0 if prev else None,
                )
            )
            rows.append(
                Row(
                    "checker",
                    f"check {what}, CPU",
                    r.cpu_s,
                    "s",
                    base,
                    prev.cpu_s if prev else nan,
                    False,
                    10.0 if prev else None,
                )
            )
            rows.append(
                Row(
                    "checker",
                    f"check {what}, max RSS",
                    r.max_rss_mib,
                    "MiB",
                    base,
                    prev.max_rss_mib if prev else nan,
                    False,
                    10.0 if prev else None,
                )
            )
            # the bounded-memory mode against the default on the same file
            for what_, unit, v, b in (
                ("max RSS", "MiB", low.max_rss_mib, r.max_rss_mib),
                ("CPU", "s", low.cpu_s, r.cpu_s),
            ):
                rows.append(
                    Row(
                        "checker",
                        f"check {what} --low-memory, {what_}",
                        v,
                        unit,
                        "default mode",
                        b,
                        False,
                    )
                )
    return rows


def write_txn_generated(path: Path, n_txns: int) -> int:
    """A strict serializable list-append history (some fail, some end info)."""
    from chaoskit.testing.txn_simulate import simulate as simulate_txns

    events = simulate_txns(seed=n_txns, n_txns=n_txns, keys=max(5, n_txns // 100), concurrency=10)
    with path.open("w") as fh:
        for i, e in enumerate(events):
            rec = {
                "index": i,
                "process": e["process"],
                "type": e["type"],
                "f": "txn",
                "key": None,
                "value": e["value"],
                "time": i * 1000,
            }
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return len(events)


TXN_SMOKE = [300, 3_000]
TXN_QUICK = [1_000, 10_000]
TXN_FULL = [1_000, 10_000, 100_000]


def txn_scaling(full: bool, smoke: bool = False) -> list[Row]:
    """The isolation checker (list-append) by whole command, per decade of
    transactions (goal: linear; 100,000 transactions well under a minute)."""
    rows: list[Row] = []
    prev: Run | None = None
    with tempfile.TemporaryDirectory(prefix="bench-txn-") as tmp:
        for n in TXN_SMOKE if smoke else TXN_FULL if full else TXN_QUICK:
            path = Path(tmp) / f"t-{n}.jsonl"
            generate("txns", path, n)
            r = run([*CHAOSKIT, "check", str(path), "--timeout", "10m"])
            if r.code != 0:
                raise SystemExit(f"{path}: generated transactions not judged valid")
            print(
                f"  {n:>9,} txns: {r.wall_s:7.2f} s wall, {r.cpu_s:7.2f} s CPU, "
                f"max RSS {r.max_rss_mib:7.0f} MiB",
                file=sys.stderr,
            )
            base = f"{n // 10:,} txns" if prev else ""
            nan = float("nan")
            for what, unit, v, b in (
                ("wall", "s", r.wall_s, prev.wall_s if prev else nan),
                ("CPU", "s", r.cpu_s, prev.cpu_s if prev else nan),
                ("max RSS", "MiB", r.max_rss_mib, prev.max_rss_mib if prev else nan),
            ):
                rows.append(
                    Row(
                        "checker",
                        f"isolation check {n:,} txns (list-append), {what}",
                        v,
                        unit,
                        base,
                        b,
                        False,
                        10.0 if prev else None,
                    )
                )
            prev = r
    return rows


def quick(
    porcupine: Path | None = None, histories: str | None = None, smoke: bool = False
) -> list[Row]:
    """The quick variant for `python -m benchmarks`."""
    rows: list[Row] = []
    root = histories_root(histories)
    if root is not None:
        rows += reference(root, porcupine, rounds=1 if smoke else 3)
    rows += scaling(full=False, smoke=smoke)
    rows += txn_scaling(full=False, smoke=smoke)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--porcupine", type=Path, help="Porcupine's test binary (go test -c)")
    ap.add_argument("--histories", help="the reference histories directory")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="also 10^6 operations")
    ap.add_argument("--jobs", type=int, default=None, help="chaoskit check --jobs")
    ap.add_argument(
        "--only",
        choices=["reference", "scaling", "isolation"],
        help="run just one section (default: all three)",
    )
    ap.add_argument("--generate", nargs=4, help=argparse.SUPPRESS)  # KIND PATH N KEYS
    a = ap.parse_args()
    if a.generate:
        kind, path, n, keys = a.generate
        if kind == "ops":
            write_generated(Path(path), int(n), int(keys))
        else:
            write_txn_generated(Path(path), int(n))
        return
    rows: list[Row] = []
    root = histories_root(a.histories)
    if a.only in (None, "reference"):
        if root is None:
            print(
                "no reference histories (--histories): skipping the Porcupine sets",
                file=sys.stderr,
            )
        else:
            rows += reference(root, a.porcupine.resolve() if a.porcupine else None, a.rounds)
    if a.only in (None, "scaling"):
        rows += scaling(a.full, a.jobs)
    if a.only in (None, "isolation"):
        rows += txn_scaling(a.full)
    print(render(rows))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
