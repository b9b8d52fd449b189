"""Bounded teardown: every step has a deadline, and the outcome names what went.

A backend's `down()` runs its steps through :class:`Teardown`. Each step runs in a
daemon thread and is waited for at most its deadline, so a Docker engine that
stops answering, a process stuck in the kernel or a slow disk cannot hold the
harness: the step is recorded as timed out and what it was removing is named as
left behind. A Ctrl-C (KeyboardInterrupt) while a step is waited for does not
abort the teardown: it switches to *forced* mode, where optional steps (collecting
logs, grace periods) are skipped and removals get short deadlines.

The result, :class:`TeardownReport`, lists what was removed and what was not,
with the command that removes the rest (`chaoskit clean --run ID`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class TeardownStep:
    name: str
    seconds: float
    ok: bool
    error: str | None = None


@dataclass
class TeardownReport:
    """What a backend's down() removed and what it could not."""

    backend: str
    run_id: str
    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # "network chaoskit-x-beijing (timed out ...)"
    steps: list[TeardownStep] = field(default_factory=list)
    forced: bool = False  # an interrupt during teardown skipped the optional steps
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.left

    @property
    def clean_command(self) -> str:
        return f"chaoskit clean --run {self.run_id}"

    def summary(self) -> str:
        """One line: what was removed, and anything left with the command that removes it."""
        head = f"teardown ({self.backend}, {self.seconds:.1f} s"
        head += ", forced)" if self.forced else ")"
        text = f"{head}: removed {len(self.removed)}"
        if self.removed:
            text += f" ({', '.join(self.removed[:6])}{', ...' if len(self.removed) > 6 else ''})"
        if self.left:
            text += (
                f"; could NOT remove {len(self.left)}: {'; '.join(self.left)}"
                f" -- run `{self.clean_command}`"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["clean_command"] = self.clean_command
        out["complete"] = self.complete
        return out


class Teardown:
    """Runs teardown steps with deadlines and collects a :class:`TeardownReport`.

    `forced` starts true when the caller is already in a hurry (a second Ctrl-C
    reached the engine before down()). `on_force` runs once when a Ctrl-C arrives
    during a step (backends use it to drop grace periods).
    """

    def __init__(
        self,
        backend: str,
        run_id: str,
        *,
        forced: bool = False,
        on_force: Callable[[], None] | None = None,
    ) -> None:
        self.report = TeardownReport(backend, run_id, forced=forced)
        self._on_force = on_force
        self._t0 = time.monotonic()

    @property
    def forced(self) -> bool:
        return self.report.forced

    def force(self) -> None:
        if not self.report.forced:
            self.report.forced = True
            if self._on_force is not None:
                try:
                    self._on_force()
                except Exception:
                    pass

    def step(
        self,
        name: str,
        fn: Callable[[], T],
        deadline_s: float,
        *,
        optional: bool = False,
    ) -> T | None:
        """Run `fn` for at most `deadline_s`; None (and the step recorded as failed) on
        an error or a timeout. Optional steps are skipped once teardown is forced."""
        if optional and self.forced:
            self.report.steps.append(TeardownStep(name, 0.0, False, "skipped (forced)"))
            return None
        t = time.monotonic()
        try:
            value = run_bounded(fn, deadline_s, on_interrupt=self.force)
        except Exception as e:
            self.report.steps.append(TeardownStep(name, time.monotonic() - t, False, _text(e)))
            return None
        self.report.steps.append(TeardownStep(name, time.monotonic() - t, True))
        return value

    def removals(self, items: dict[str, Callable[[], Any]], deadline_s: float) -> None:
        """Several removals at once (each in its own thread), all within one deadline."""
        results: dict[str, BaseException | None] = {}
        threads = {}
        t = time.monotonic()
        for what, fn in items.items():
            th = threading.Thread(
                target=_capture, args=(fn, what, results), daemon=True, name=f"teardown {what}"
            )
            th.start()
            threads[what] = th
        end = t + deadline_s
        for th in threads.values():
            _join(th, end, self.force)
        for what in items:
            took = time.monotonic() - t
            if what not in results:
                err: str | None = f"timed out after {deadline_s:g} s"
            else:
                exc = results[what]
                err = None if exc is None else _text(exc)
            self.report.steps.append(TeardownStep(f"remove {what}", took, err is None, err))
            if err is None:
                self.report.removed.append(what)
            else:
                self.report.left.append(f"{what} ({err})")

    def finish(self) -> TeardownReport:
        self.report.seconds = time.monotonic() - self._t0
        return self.report


def _text(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def _capture(fn: Callable[[], Any], key: str, out: dict[str, BaseException | None]) -> None:
    try:
        fn()
    except BaseException as e:  # recorded for the waiting thread
        out[key] = e
    else:
        out[key] = None


def _join(th: threading.Thread, end: float, on_interrupt: Callable[[], None] | None) -> None:
    """Wait for a thread until the monotonic `end`; a KeyboardInterrupt while waiting
    calls `on_interrupt` and goes on waiting (never aborts the teardown)."""
    while th.is_alive():
        left = end - time.monotonic()
        if left <= 0:
            return
        try:
            th.join(min(left, 0.2))
        except KeyboardInterrupt:
            if on_interrupt is not None:
                on_interrupt()


def run_bounded(
    fn: Callable[[], T], timeout_s: float, on_interrupt: Callable[[], None] | None = None
) -> T:
    """`fn()` in a daemon thread, waited for at most `timeout_s`.

    Raises TimeoutError when it has not returned by then (the thread is left to
    finish or die with the process), or whatever `fn` raised."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e

    th = threading.Thread(target=target, daemon=True, name="teardown step")
    th.start()
    _join(th, time.monotonic() + timeout_s, on_interrupt)
    if th.is_alive():
        raise TimeoutError(f"timed out after {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
