"""What every check shares: its result, the evidence it judges, and small parsing steps.

A check module (one per check) holds its dataclass, `parse` (the `checks:` entry
of the experiment YAML -> that dataclass, every problem reported through the
validation context with what would be valid) and `evaluate` (one validated check
+ the run's evidence -> CheckResults), and registers them as a `CheckKind`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the checks sit below the experiment and report
    from chaoskit.experiment.source import PathT
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate.context import Context
    from chaoskit.report.loss_window import LossWindow
    from chaoskit.report.scorecard import Scorecard

# Phases a check can name: before/after the faults, during them, or the whole load.
PHASES = ("before", "during", "after", "all")


@dataclass
class CheckResult:
    check: str  # the check's name (a key of chaoskit.checks.CHECKS)
    passed: bool
    message: str  # readable: which bound, which region, the numbers
    region: str | None = None
    phase: str | None = None
    bound: Any = None
    observed: Any = None


@dataclass
class Evidence:
    """What a finished run shows: its scorecard and the checker's linearizability verdict."""

    scorecard: Scorecard
    linearizability: dict | None  # the checker's to_dict(), or {"verdict": "error", ...}
    loss_windows: list[LossWindow] = field(default_factory=list)  # report/loss_window.py
    isolation: dict | None = None  # the isolation checker's to_dict() (transactional runs)
    node_exits: list[dict] = field(default_factory=list)  # node-exit events (nodewatch.py)


@dataclass(frozen=True)
class CheckKind:
    """One check, as the registry knows it.

    `parse(context, path, raw, load)` returns the value of the ChecksSpec field of
    the same name (None: invalid, reported through `context`); `evaluate(check,
    evidence)` judges one validated check. `many`: the field is a list of checks
    (a YAML mapping or a list of mappings).
    """

    name: str
    parse: Callable[[Context, PathT, Any, LoadSpec], Any]
    evaluate: Callable[[Any, Evidence], list[CheckResult]]
    many: bool = False


def as_list(path: PathT, raw: Any) -> list[tuple[PathT, Any]]:
    """A mapping or a list of mappings, each with its path."""
    if isinstance(raw, list):
        return [((*path, i), x) for i, x in enumerate(raw)]
    return [(path, raw)]


def check_region(v: Context, path: PathT, m: dict) -> str | None:
    """The entry's `region` (default "all"), checked against the topology."""
    region = m.get("region", "all")
    r = v.region((*path, "region"), region, allow=("all",))
    if r and r != "all" and v.clients.get(r, 0) == 0:
        v.warn(
            (*path, "region"),
            f"region {r!r} has no load users, so there is nothing to measure there",
        )
    return r


def region_entries(
    v: Context, path: PathT, raw: Any, keys: tuple[str, ...], kind: str
) -> Iterator[tuple[PathT, dict, str | None]]:
    """The entries of a per-region check (a mapping or a list of mappings) that are
    mappings of `keys` only, each as (path, mapping, its checked `region`)."""
    for p, item in as_list(path, raw):
        m = v.mapping(p, item, keys, kind)
        if m is not None:
            yield p, m, check_region(v, p, m)


def regions_of(region: str, scorecard: Scorecard) -> list[str]:
    """A check's region, or every region of the run for "all"."""
    return list(scorecard.regions) if region in ("all", "*") else [region]
