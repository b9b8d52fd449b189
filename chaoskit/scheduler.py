"""The fault schedule, driven on the run's clock by one thread per schedule item.

Items are the validated schedule of chaoskit.experiment.spec:

- `Timed`: ``.at_s``, ``.for_s`` (None = until the end of the load), ``.fault``
  (a `FaultSpec`) -- applied at ``at``, healed ``for`` later.
- `Sequence`: ``.at_s``, ``.steps`` -- `Wait` and `Timed` steps run in order; a
  step with ``for`` blocks that long and heals before the next.
- `RandomNemesis`: ``.faults``, ``.interval_s``, ``.for_s``, ``.start_s``,
  ``.stop_s`` -- from ``start`` until ``stop`` (or the end of the load), every
  ``interval`` one fault chosen by a random source seeded from the experiment's
  seed, so the same seed replays the same faults on the same targets.

Times are seconds after ``base_ns`` (the load start on the monotonic clock).
``stop()`` ends every thread promptly; faults still active then are healed by the
engine (``FaultManager.heal_all``), not here.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from chaoskit.experiment.spec import (
    FaultSpec,
    RandomNemesis,
    ScheduleItem,
    Sequence,
    Timed,
    Wait,
)
from chaoskit.faults.manager import FaultHandle, FaultManager


class Scheduler:
    def __init__(
        self,
        items: list[ScheduleItem],
        manager: FaultManager,
        base_ns: int,
        seed: int = 0,
        end_s: float | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.items = list(items)
        self.manager = manager
        self.base_ns = base_ns
        self.seed = seed
        self.end_s = end_s  # no new fault after this (the load's end)
        self.on_error = on_error
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- clock --------------------------------------------------------------------

    def elapsed_s(self) -> float:
        return (time.monotonic_ns() - self.base_ns) / 1e9

    def _sleep_until(self, t_s: float) -> bool:
        """Sleep until t_s after base; True if stopped meanwhile (or t_s is past the end)."""
        if self.end_s is not None and t_s >= self.end_s:
            self._stop.wait(max(0.0, self.end_s - self.elapsed_s()))
            return True
        return self._stop.wait(max(0.0, t_s - self.elapsed_s()))

    def _sleep_for(self, s: float) -> bool:
        return self._sleep_until(self.elapsed_s() + s) if s > 0 else self._stop.is_set()

    # -- running --------------------------------------------------------------------

    def start(self) -> None:
        for i, item in enumerate(self.items):
            target: Callable[[Any, int], None]
            match item:
                case Timed():
                    target = self._run_timed
                case Sequence():
                    target = self._run_sequence
                case RandomNemesis():
                    target = self._run_random
                case _:
                    raise TypeError(f"schedule item {i}: not a schedule item: {item!r}")
            t = threading.Thread(
                target=self._guard, args=(target, item, i), name=f"schedule-{i}", daemon=True
            )
            self._threads.append(t)
            t.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _guard(self, fn: Callable[[Any, int], None], item: Any, index: int) -> None:
        try:
            fn(item, index)
        except Exception as e:  # recorded; the engine decides what a broken schedule means
            msg = f"schedule item {index}: {type(e).__name__}: {e}"
            self.errors.append(msg)
            if self.on_error:
                self.on_error(msg)

    def _heal(self, handle: FaultHandle, source: str) -> None:
        """Heal on schedule; a heal that failed (heal-failed in events.jsonl) is an error
        of the schedule, so the run ends broken rather than judged as if it healed."""
        if not self.manager.heal(handle, source):
            raise RuntimeError(f"heal of {handle.id} ({handle.kind}) failed: {handle.heal_error}")

    def _apply(self, spec: FaultSpec, fault_id: str, source: str) -> FaultHandle:
        return self.manager.apply(spec.kind, dict(spec.params), fault_id=fault_id, source=source)

    def _timed(self, item: Timed, fault_id: str, source: str) -> None:
        """Apply now; if it has a duration, hold it (unless stopped) and heal."""
        h = self._apply(item.fault, fault_id, source)
        if item.for_s is not None:
            if not self._sleep_for(float(item.for_s)):
                self._heal(h, source)

    def _run_timed(self, item: Timed, index: int) -> None:
        if self._sleep_until(float(item.at_s or 0.0)):
            return
        self._timed(item, item.fault.id or f"s{index}", "schedule")

    def _run_sequence(self, item: Sequence, index: int) -> None:
        if self._sleep_until(float(item.at_s or 0.0)):
            return
        for j, step in enumerate(item.steps):
            match step:
                case Wait():
                    if self._sleep_for(step.s):
                        return
                case Timed():
                    self._timed(step, step.fault.id or f"s{index}.{j}", "schedule")
                    if self.stopped:
                        return
                case _:
                    raise TypeError(f"sequence step {j}: not a wait or a timed fault: {step!r}")

    def _run_random(self, item: RandomNemesis, index: int) -> None:
        rng = random.Random(f"{self.seed}:random:{index}")
        t = float(item.start_s or 0.0)
        stop_s = item.stop_s
        interval = float(item.interval_s)
        hold = float(item.for_s or 0.0)
        n = 0
        while stop_s is None or t < float(stop_s):
            if self._sleep_until(t):
                return
            spec = rng.choice(list(item.faults))
            base_id = spec.id or f"r{index}"
            h = self._apply(spec, f"{base_id}#{n}", "random")
            n += 1
            if self._sleep_for(hold):
                return
            self._heal(h, "random")
            t = max(t + interval, self.elapsed_s())
