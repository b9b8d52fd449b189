"""Noticing that a part of the harness itself died while a run goes on.

`EngineWatch` asks the backend (`Backend.engine_problem`) twice a second whether
what runs the nodes -- the Docker engine(s) -- still answers and still runs the
run's own links container. Two bad answers in a row end the run as BROKEN with the
reason; an engine that went away and came back (a restarted dockerd stops every
container it ran) is named as restarted.

`LinkWatch` polls the link server's API (GET /version) in a daemon thread. When it
has not answered `failures` times in a row, `reason` says so: the engine then ends
the run as BROKEN with that reason (healing and tearing down as after any error),
instead of letting the schedule apply faults to links that no longer exist and the
checker judge a history whose network was not the one described.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Self

import requests

from chaoskit.access import TOKEN_HEADER


class _Watch:
    """A daemon thread running `_run` until `stop()`; `reason` set when it found the
    run broken (then `noticed_ns`, time.monotonic_ns(), says when)."""

    name = "watch"

    def __init__(self, interval_s: float, failures: int) -> None:
        self.interval_s = interval_s
        self.failures = failures
        self.reason: str | None = None
        self.noticed_ns: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _broken(self, reason: str) -> None:
        self.reason = reason
        self.noticed_ns = time.monotonic_ns()

    def _run(self) -> None:
        raise NotImplementedError


class LinkWatch(_Watch):
    name = "link watch"

    def __init__(
        self,
        api_url: str,
        interval_s: float = 1.0,
        failures: int = 3,
        timeout_s: float = 2.0,
        token: str | None = None,
    ) -> None:
        super().__init__(interval_s, failures)
        self.api_url = api_url.rstrip("/")
        self.headers = {TOKEN_HEADER: token} if token else {}
        self.timeout_s = timeout_s

    def _run(self) -> None:
        misses = 0
        last = ""
        while not self._stop.wait(self.interval_s):
            try:
                r = requests.get(
                    f"{self.api_url}/version", headers=self.headers, timeout=self.timeout_s
                )
                ok = r.status_code < 500
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                ok = False
                last = type(e).__name__
            misses = 0 if ok else misses + 1
            if misses >= self.failures:
                self._broken(
                    f"the link server at {self.api_url} stopped answering "
                    f"({self.failures} checks in a row failed, last: {last}): "
                    "the network the experiment describes no longer exists"
                )
                return


class EngineWatch(_Watch):
    name = "engine watch"

    def __init__(self, backend: Any, interval_s: float = 0.5, failures: int = 2) -> None:
        super().__init__(interval_s, failures)
        self.backend = backend

    def _run(self) -> None:
        misses = 0
        unreachable_since: float | None = None
        while not self._stop.wait(self.interval_s):
            try:
                problem = self.backend.engine_problem()
            except Exception as e:  # noqa: BLE001 - a probe that raises is a bad answer
                problem = ("unreachable", f"the engine probe failed: {type(e).__name__}: {e}")
            if problem is None:
                misses = 0
                continue
            kind, words = problem
            if kind == "unreachable" and unreachable_since is None:
                unreachable_since = time.monotonic()
            misses += 1
            if misses < self.failures:
                continue
            if kind == "stopped" and unreachable_since is not None:
                gone = time.monotonic() - unreachable_since
                words += f"; it had stopped answering {gone:.1f} s before: it was restarted"
            self._broken(
                f"{words}: the run's nodes and links are gone or out of reach, "
                "so the run cannot go on as described"
            )
            return
