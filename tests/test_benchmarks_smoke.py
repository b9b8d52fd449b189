"""`python -m benchmarks --smoke` (what `chaoskit bench` runs, at its smallest sizes):
every area gives its rows in one table. The shape only: no timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_smoke_prints_one_table_of_ratios() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert lines[0].split()[:6] == ["area", "measure", "value", "baseline", "ratio", "goal"]
    assert set(lines[1]) <= {"-", " "}
    rows = [ln for ln in lines[2:] if ln and not ln.startswith(tuple("0123456789"))]
    areas = {ln.split()[0] for ln in rows}
    assert areas == {"checker", "load", "links", "topology"}, p.stdout
    for ln in rows:
        # every row has a ratio (a number with x) or "-" when it has no baseline
        assert re.search(r"\s(\d+\.\d\dx|-)(\s|$)", ln), ln
    measures = " ".join(rows)
    for expected in ("history recorded", "through a proxy", "up per node", "max RSS"):
        assert expected in measures, p.stdout
    assert re.search(r"^\d+ rows in \d+ s", lines[-1]), lines[-1]


def test_bench_rejects_an_unknown_area() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "checker,nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert "nope" in p.stderr and "checker, load, links, topology" in p.stderr
