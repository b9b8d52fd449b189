"""Per-link bookkeeping of overlapping network faults.

Overlapping faults (a region cut while one of its nodes is isolated, two latency
faults on one pair) are tracked by :class:`LinkOverlay`: each fault records what it
wants per link, and healing one fault re-applies whatever the others still want,
so heals can come in any order and the links end where they began.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from chaoskit.topology.model import AddressPlan, Latency


@dataclass(frozen=True)
class _Cut:
    direction: str  # both | upstream | downstream
    mode: str  # blackhole | refuse


@dataclass(frozen=True)
class _Lat:
    mode: str  # set | add
    latency: Latency


class LinkOverlay:
    """Per-link bookkeeping of active cuts and latency changes, by fault id."""

    def __init__(self, links: Any, plan: AddressPlan) -> None:
        self.links = links
        self.base = {s.name: s.latency for s in plan.links.values()}
        self.cuts: dict[str, dict[str, _Cut]] = defaultdict(dict)
        self.lats: dict[str, dict[str, _Lat]] = defaultdict(dict)
        self._lock = threading.RLock()

    # -- cuts ---------------------------------------------------------------------

    @staticmethod
    def _effective_cut(cuts: dict[str, _Cut]) -> _Cut | None:
        if not cuts:
            return None
        if any(c.mode == "refuse" for c in cuts.values()):
            return _Cut("both", "refuse")  # a refused link is down both ways anyway
        dirs: set[str] = set()
        for c in cuts.values():
            dirs |= {"upstream", "downstream"} if c.direction == "both" else {c.direction}
        return _Cut("both" if len(dirs) == 2 else dirs.pop(), "blackhole")

    def _push_cuts(self, names: list[str], before: dict[str, _Cut | None]) -> None:
        to_heal: list[str] = []
        to_cut: dict[_Cut, list[str]] = defaultdict(list)
        for n in names:
            now = self._effective_cut(self.cuts.get(n, {}))
            if now == before[n]:
                continue
            if before[n] is not None:
                to_heal.append(n)
            if now is not None:
                to_cut[now].append(n)
        if to_heal:
            self.links.heal(to_heal)
        for c, ns in to_cut.items():
            self.links.cut(ns, direction=c.direction, mode=c.mode)

    def cut(
        self, fid: str, names: list[str], direction: str = "both", mode: str = "blackhole"
    ) -> None:
        with self._lock:
            before = {n: self._effective_cut(self.cuts.get(n, {})) for n in names}
            for n in names:
                self.cuts[n][fid] = _Cut(direction, mode)
            try:
                self._push_cuts(names, before)
            except BaseException:
                for n in names:
                    self.cuts[n].pop(fid, None)
                raise

    def uncut(self, fid: str) -> None:
        with self._lock:
            names = [n for n, cs in self.cuts.items() if fid in cs]
            before = {n: self._effective_cut(self.cuts[n]) for n in names}
            for n in names:
                self.cuts[n].pop(fid, None)
            self._push_cuts(names, before)

    # -- latency ------------------------------------------------------------------

    def _effective_lat(self, name: str) -> Latency:
        lat = self.base[name]
        for change in self.lats.get(name, {}).values():  # in application order
            if change.mode == "set":
                lat = change.latency
            else:
                lat = Latency(
                    lat.rtt_ms + change.latency.rtt_ms, lat.jitter_ms + change.latency.jitter_ms
                )
        return lat

    def _push_lats(self, names: list[str], before: dict[str, Latency]) -> None:
        groups: dict[Latency, list[str]] = defaultdict(list)
        for n in names:
            now = self._effective_lat(n)
            if now != before[n]:
                groups[now].append(n)
        for lat, ns in groups.items():
            self.links.set_latency(ns, lat)

    def set_latency(self, fid: str, names: list[str], mode: str, latency: Latency) -> None:
        with self._lock:
            before = {n: self._effective_lat(n) for n in names}
            for n in names:
                self.lats[n][fid] = _Lat(mode, latency)
            try:
                self._push_lats(names, before)
            except BaseException:
                for n in names:
                    self.lats[n].pop(fid, None)
                raise

    def unset_latency(self, fid: str) -> None:
        with self._lock:
            names = [n for n, ls in self.lats.items() if fid in ls]
            before = {n: self._effective_lat(n) for n in names}
            for n in names:
                self.lats[n].pop(fid, None)
            self._push_lats(names, before)
