"""One row per measured figure, and the table `python -m benchmarks` prints.

Every row compares a candidate with a baseline measured in the same run, so a
regression shows as a ratio however busy the machine is.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

HEADER = ("area", "measure", "value", "baseline", "ratio", "goal", "")


@dataclass
class Row:
    area: str  # "checker", "load", "links", "topology"
    measure: str  # what the candidate is, e.g. "chaoskit check, 102 etcd histories"
    value: float
    unit: str  # "s", "ops/s", "ms", "MiB"
    baseline: str  # what the baseline is, e.g. "Porcupine test binary"
    base_value: float
    higher_is_better: bool
    goal: float | None = None  # ratio goal: >= goal when higher is better, else <= goal

    @property
    def ratio(self) -> float:
        return self.value / self.base_value if self.base_value else float("nan")

    @property
    def meets(self) -> bool | None:
        if self.goal is None or self.ratio != self.ratio:
            return None
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal

    def cells(self) -> tuple[str, ...]:
        goal = ""
        if self.goal is not None:
            goal = f"{'>=' if self.higher_is_better else '<='} {self.goal:g}x"
        mark = {True: "ok", False: "MISS", None: ""}[self.meets]
        no_base = self.base_value != self.base_value  # nan: nothing to compare with
        return (
            self.area,
            self.measure,
            f"{_num(self.value)} {self.unit}",
            "-" if no_base else f"{_num(self.base_value)} {self.unit} {self.baseline}",
            "-" if no_base else f"{self.ratio:.2f}x",
            goal,
            mark,
        )


def _num(v: float) -> str:
    if v != v:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def render(rows: Iterable[Row]) -> str:
    """A fixed-width text table (one header line, a rule, one line per row)."""
    lines = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def interleaved(rounds: int, candidates: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every candidate once per round, in turn, `rounds` times: all see the same
    machine load, and the median of each is comparable."""
    out: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            out[name].append(fn())
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")
