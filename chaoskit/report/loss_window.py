"""The loss window: how much time's worth of acknowledged writes a takeover threw away.

A lost write's "age" relative to a fault's start says little when the writes were
acknowledged while the fault was already running (they would all be "0 s old").
What a DR plan means by RPO is a span of time: from the earliest acknowledgement
that was lost to the takeover that dropped it. So:

- takeovers come from events.jsonl: a `roles` event that changed the primary or
  leader (observed by chaoskit/rolewatch.py) and the application of a fault that
  forces one (`degrade-quorum`: a forced new cluster, a degraded quorum);
- each lost write belongs to the first takeover at or after its acknowledgement;
  one acknowledged after every takeover (a deposed primary that kept acknowledging
  on its side of a cut) belongs to the last one before it;
- a window runs from its earliest lost acknowledgement to its takeover, or to its
  latest lost acknowledgement when that is later; with no takeover observed, to
  the end of the load (the loss was proven by the final reads after it).

A window's span is therefore never 0 s for a real loss: a takeover is observed
after the acknowledgement it drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NS = 1_000_000_000
TAKEOVER_FAULTS = ("degrade-quorum",)


@dataclass
class Takeover:
    time_s: float
    kind: str  # "promotion" (roles changed) | a fault kind such as "degrade-quorum"
    detail: str


@dataclass
class LossWindow:
    count: int
    start_s: float  # the earliest lost acknowledgement
    end_s: float  # the takeover, or the latest lost acknowledgement if later
    span_s: float
    last_ack_s: float
    takeover: Takeover | None

    def describe(self) -> str:
        what = (
            f"{self.takeover.kind} at {self.takeover.time_s:.2f} s ({self.takeover.detail})"
            if self.takeover
            else "no takeover observed; until the end of the load"
        )
        return (
            f"{self.count} lost acknowledged writes from {self.start_s:.2f} s to "
            f"{self.end_s:.2f} s: a {self.span_s:.2f} s window ({what})"
        )


def takeovers(events: list[dict[str, Any]]) -> list[Takeover]:
    out = []
    for e in events:
        kind = e.get("event")
        t = int(e.get("time", 0)) / NS
        if kind == "roles" and not e.get("initial") and e.get("changed"):
            parts, seen = [], []
            for role, (old, new) in e["changed"].items():
                if (old, new) in seen:  # "leader" repeating "primary"
                    continue
                seen.append((old, new))
                parts.append(f"{role} {', '.join(old or ['?'])} -> {', '.join(new)}")
            out.append(Takeover(round(t, 3), "promotion", "; ".join(parts)))
        elif kind == "apply" and str(e.get("kind") or e.get("fault")) in TAKEOVER_FAULTS:
            out.append(
                Takeover(round(t, 3), str(e.get("kind") or e.get("fault")), str(e.get("id")))
            )
    return sorted(out, key=lambda x: x.time_s)


def loss_windows(
    lost_acks_s: list[float], events: list[dict[str, Any]], load_end_s: float
) -> list[LossWindow]:
    """One window per takeover that lost writes (acknowledgement times in seconds)."""
    tos = takeovers(events)
    groups: dict[int, list[float]] = {}
    for ack in sorted(lost_acks_s):
        after = [i for i, t in enumerate(tos) if t.time_s >= ack]
        before = [i for i, t in enumerate(tos) if t.time_s < ack]
        idx = after[0] if after else (before[-1] if before else -1)
        groups.setdefault(idx, []).append(ack)
    out = []
    for idx, acks in sorted(groups.items()):
        to = tos[idx] if idx >= 0 else None
        start, last = min(acks), max(acks)
        end = max(to.time_s, last) if to else max(load_end_s, last)
        out.append(LossWindow(len(acks), start, end, round(end - start, 3), last, to))
    return out
