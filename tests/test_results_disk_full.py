"""The results directory's disk fills up mid-run (a small tmpfs): the run stops
with a clear error (exit 3, where and what to do), is healed and torn down, stays
marked INCOMPLETE, and leaves no half-written file that looks whole: every JSON
file parses and every line of every .jsonl file is a whole record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


@pytest.fixture
def small_disk(tmp_path: Path):
    def make(size: str) -> Path:
        mnt = tmp_path / f"disk-{size}"
        mnt.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
        )
        need("a tmpfs mount (root)", r.returncode == 0, f"run as root ({r.stderr.strip()})")
        mounts.append(mnt)
        return mnt

    mounts: list[Path] = []
    yield make
    for m in mounts:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "size", ["40k", "60k", "4k"], ids=["while-starting", "while-loading", "at-once"]
)
def test_a_full_results_disk_is_a_clear_error_and_nothing_looks_whole(size, small_disk, tmp_path):
    disk = small_disk(size)
    registry = tmp_path / "registry"
    r = subprocess.run(
        [
            CHAOSKIT,
            "run",
            str(ROOT / "experiments" / "smoke.yaml"),
            "--set",
            "load.duration=6s",
            "--set",
            "schedule.0.at=1s",
            "--set",
            "schedule.0.for=3s",
            "--results",
            str(disk),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, CHAOSKIT_LOCAL_REGISTRY=str(registry)),
    )
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert f"the results directory {disk}" in r.stderr and "is full" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert not list(registry.glob("*/pids/*.json")), "every process stopped"
    for run in (disk / "smoke").glob("2*"):
        assert (run / "INCOMPLETE").exists()
        for f in run.rglob("*"):
            if f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix == ".jsonl":
                for line in f.read_text().splitlines(keepends=True):
                    assert line.endswith("\n"), f"{f.name}: a partial last line {line[-40:]!r}"
                    json.loads(line)
