"""One handle on the links of several link servers (one per Docker engine).

Each link lives on the link server of its SOURCE region's engine; `route` maps a
link name to the server that carries it. Every LinkControl operation is split by
server and sent to each; one server's part is all-or-nothing as LinkControl
makes it. If a later server's part fails, the cuts and toxics already applied on
earlier servers are undone before the error is raised; a latency change is not
rolled back across servers (the heal of the fault sets it again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chaoskit.links.control import LinkControl, LinkError
from chaoskit.topology.model import AddressPlan, Latency


class MultiLinkControl:
    def __init__(self, controls: dict[str, LinkControl], route: Callable[[str], str]) -> None:
        self.controls = controls  # server key -> its LinkControl
        self.route = route  # link name -> server key
        self.api_url = next(iter(controls.values())).api_url

    def _split(self, names: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n in names:
            key = self.route(n)
            if key not in self.controls:
                raise LinkError(f"link {n!r} belongs to no link server here")
            out.setdefault(key, []).append(n)
        return out

    def wait_ready(self, deadline_s: float = 10.0) -> None:
        for c in self.controls.values():
            c.wait_ready(deadline_s)

    def build(self, plan: AddressPlan) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, c in self.controls.items():
            mine = {k: s for k, s in plan.links.items() if self.route(s.name) == key}
            if mine:
                out.update(c.build(replace(plan, links=mine)))
        return out

    def _each(
        self, names: list[str], do: Callable[[LinkControl, list[str]], None], undo: Any = None
    ) -> None:
        done: list[tuple[LinkControl, list[str]]] = []
        for key, part in self._split(names).items():
            c = self.controls[key]
            try:
                do(c, part)
            except Exception:
                for prev, prev_part in reversed(done):
                    if undo is not None:
                        try:
                            undo(prev, prev_part)
                        except Exception:  # the original error is the one to report
                            pass
                raise
            done.append((c, part))

    def cut(self, names: list[str], direction: str = "both", mode: str = "blackhole") -> None:
        self._each(
            names,
            lambda c, ns: c.cut(ns, direction=direction, mode=mode),
            lambda c, ns: c.heal(ns),
        )

    def heal(self, names: list[str]) -> None:
        self._each(names, lambda c, ns: c.heal(ns))

    def set_latency(self, names: list[str], latency: Latency) -> None:
        self._each(names, lambda c, ns: c.set_latency(ns, latency))

    def add_toxic(self, names: list[str], type_: str, attributes: dict, **kw: Any) -> None:
        name = kw.get("name") or f"{type_}_{kw.get('stream', 'downstream')}"
        self._each(
            names,
            lambda c, ns: c.add_toxic(ns, type_, attributes, **kw),
            lambda c, ns: c.remove_toxic(ns, name, missing_ok=True),
        )

    def remove_toxic(self, names: list[str], name: str, missing_ok: bool = False) -> None:
        self._each(names, lambda c, ns: c.remove_toxic(ns, name, missing_ok=missing_ok))

    def names(self) -> list[str]:
        return sorted(n for c in self.controls.values() for n in c.names() if self._known(n))

    def state(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for c in self.controls.values():
            out.update({n: s for n, s in c.state().items() if self._known(n)})
        return out

    def _known(self, name: str) -> bool:
        try:
            return self.route(name) in self.controls
        except (KeyError, ValueError):
            return False

    def reset(self) -> None:
        for c in self.controls.values():
            c.reset()

    def close(self) -> None:
        for c in self.controls.values():
            c.close()
