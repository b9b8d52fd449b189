"""The schedule as a fixed list of steps: every fault with its start and length.

A chaoskit schedule is deterministic in time once the run's seed is known: timed
entries start at `at`, a sequence's steps follow one another (a step with `for`
blocks that long, a `wait` blocks, a step without `for` stays on until the end of
the load without blocking), and a random nemesis draws its faults from the same
seeded source the scheduler uses (`random.Random(f"{seed}:random:{index}")`), one
every `interval` from `start` until `stop` (or the end of the load). Tools that
replay a schedule elsewhere (the Chaos Mesh export) work from this list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from chaoskit.experiment.spec import (
    Experiment,
    FaultSpec,
    RandomNemesis,
    Sequence,
    Timed,
    Wait,
)


@dataclass(frozen=True)
class Step:
    """One fault application: `start_s` after the load starts, healed after `length_s`."""

    fault_id: str  # the event id a chaoskit run would use (f1, f3#0, ...)
    fault: FaultSpec
    start_s: float
    length_s: float  # until the heal; faults without `for` last until the load ends


def flatten(experiment: Experiment) -> list[Step]:
    """Every fault application of the schedule, in start order (ties: file order)."""
    end = experiment.load.duration_s
    steps: list[Step] = []
    for index, item in enumerate(experiment.schedule):
        if isinstance(item, Timed):
            steps.append(_timed(item, item.at_s, end))
        elif isinstance(item, Sequence):
            t = item.at_s
            for step in item.steps:
                if isinstance(step, Wait):
                    t += step.s
                    continue
                steps.append(_timed(step, t, end))
                if step.for_s is not None:
                    t += step.for_s
        elif isinstance(item, RandomNemesis):
            steps.extend(_random(item, index, experiment.seed, end))
    steps.sort(key=lambda s: s.start_s)
    return steps


def _timed(item: Timed, start: float, end: float) -> Step:
    length = item.for_s if item.for_s is not None else max(end - start, 0.0)
    return Step(item.fault.id, item.fault, start, length)


def _random(item: RandomNemesis, index: int, seed: int, end: float) -> list[Step]:
    rng = random.Random(f"{seed}:random:{index}")
    stop = item.stop_s if item.stop_s is not None else end
    out: list[Step] = []
    t, n = float(item.start_s or 0.0), 0
    while t < stop:
        spec = rng.choice(list(item.faults))
        base = spec.id or f"r{index}"
        out.append(Step(f"{base}#{n}", spec, t, float(item.for_s or 0.0)))
        n += 1
        t += max(float(item.interval_s), float(item.for_s or 0.0))
    return out
