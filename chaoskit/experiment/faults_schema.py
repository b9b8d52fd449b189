"""The fault catalogue: every fault's name and parameters. Single source of truth.

The experiment package validates schedule entries against this table; the faults package
(chaoskit/faults) implements behaviour for exactly these names and reads their
parameters from `FaultSpec.params`, which the validator fills like this:

- every parameter of the fault is present (defaults filled in; an optional
  parameter without a default is absent);
- `duration` / `signed-duration` values are float SECONDS (rtt: 22ms -> 0.022,
  offset: -2s -> -2.0) -- convert to ms where Toxiproxy wants ms;
- `datetime` values are ISO 8601 strings (clock-skew `time`, the absolute clock;
  not `at`: `at` is every schedule entry's start time);
- a `selector` (node selector) is either a string -- "all", "random-node",
  "minority", "majority", a system role such as "leader", or a node name -- or a
  one-key dict {"region": R} | {"zone": Z} | {"node": N} | {"role": R}, or
  {"random": K, "of": <selector>} (K nodes drawn from the inner selector);
- a `links` (link selector) is "all" or a one-key dict {"between": [A, B]} |
  {"region": R} | {"names": [link names]};
- `region-or-random` is a region name or "random" (drawn at apply time from the
  run's seeded RNG).

Faults with `instant=True` have no heal and take no `for` (start, clock-reset,
restore-quorum). Faults with `clock=True` need `SystemAdapter.supports_clock_skew`.
Network faults act on inter-region links only: a region is the network's
failure domain (traffic inside a region goes direct).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A cross-field rule: (validated params, the topology's region names) ->
# [(parameter name, message)] for each problem; [] when the parameters fit together.
Rule = Callable[[dict[str, Any], list[str]], list[tuple[str, str]]]

# Parameter types understood by the validator (see module doc for the value shapes).
PARAM_TYPES = (
    "region",  # a region name of the topology
    "region-or-random",  # a region name or "random"
    "regions",  # list of region names
    "region-groups",  # list of lists of region names, disjoint
    "selector",  # node selector
    "links",  # link selector
    "duration",  # >= 0, seconds
    "signed-duration",  # seconds, may be negative: -2s, +500ms
    "datetime",  # ISO 8601 date-time
    "enum",  # one of `choices`
    "number",  # float; see `min`/`max`/`min_exclusive`
    "int",  # int; see `min`/`max`
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool = False
    default: Any = None  # None = absent when not given (unless required)
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    doc: str = ""


@dataclass(frozen=True)
class FaultDef:
    name: str
    family: str  # network | process | clock | quorum
    doc: str
    params: tuple[Param, ...] = ()
    instant: bool = False  # no heal, no `for`
    clock: bool = False  # needs a system whose clock can be skewed
    # Groups of parameter names of which exactly one must be given.
    one_of: tuple[tuple[str, ...], ...] = field(default=())
    # Rules over several parameters, run once every parameter is valid on its own.
    rules: tuple[Rule, ...] = ()

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


NODE_SELECTOR_KEYWORDS: tuple[str, ...] = ("all", "random-node", "minority", "majority")
NODE_SELECTOR_KEYS: tuple[str, ...] = ("region", "zone", "node", "role", "random")
# Roles systems commonly give (SystemAdapter.roles); an adapter class names more
# in SystemAdapter.role_names.
KNOWN_ROLES: tuple[str, ...] = ("leader", "follower", "primary")
LINK_SELECTOR_KEYS: tuple[str, ...] = ("between", "region", "names")
NETWORK_MODES: tuple[str, ...] = ("blackhole", "refuse")


def _two_halves_apart(params: dict[str, Any], regions: list[str]) -> list[tuple[str, str]]:
    if "halves" not in params or "bridge" not in params:
        return []
    if len(params["halves"]) != 2:
        return [("halves", f"bridge needs exactly two halves; got {len(params['halves'])}")]
    if any(params["bridge"] in h for h in params["halves"]):
        return [("bridge", f"the bridge region {params['bridge']!r} must not be in either half")]
    return []


def _two_groups(params: dict[str, Any], regions: list[str]) -> list[tuple[str, str]]:
    if "groups" not in params:
        return []
    named = {r for g in params["groups"] for r in g}
    if len(params["groups"]) + (1 if set(regions) - named else 0) < 2:
        return [
            (
                "groups",
                "a partition needs at least two groups (regions not named form one more group)",
            )
        ]
    return []


def _different_ends(params: dict[str, Any], regions: list[str]) -> list[tuple[str, str]]:
    if params.get("from") is not None and params.get("from") == params.get("to"):
        return [("to", "from and to must be different regions")]
    return []


_MODE = Param(
    "mode",
    "enum",
    default="blackhole",
    choices=NETWORK_MODES,
    doc="blackhole: connections hang (packets dropped); refuse: connections are refused/reset",
)
_TARGET = Param("target", "selector", required=True, doc="which nodes (node selector)")
_LINKS = Param("links", "links", required=True, doc="which links (link selector)")

FAULTS: dict[str, FaultDef] = {
    f.name: f
    for f in (
        # ---- network (inter-region links) ----
        FaultDef(
            "cut-region",
            "network",
            "Cut every link into and out of a region, both directions.",
            (
                Param("region", "region-or-random", required=True, doc='region name or "random"'),
                _MODE,
            ),
        ),
        FaultDef(
            "partition",
            "network",
            "Split regions into groups that cannot reach each other; regions not named form one more group.",
            (
                Param(
                    "groups", "region-groups", required=True, doc="list of lists of region names"
                ),
                _MODE,
            ),
            rules=(_two_groups,),
        ),
        FaultDef(
            "bridge",
            "network",
            "Two halves cannot reach each other; the bridge region keeps its links to both.",
            (
                Param(
                    "halves",
                    "region-groups",
                    required=True,
                    doc="exactly two lists of region names",
                ),
                Param(
                    "bridge", "region", required=True, doc="region that still reaches both halves"
                ),
                _MODE,
            ),
            rules=(_two_halves_apart,),
        ),
        FaultDef(
            "one-way",
            "network",
            "Traffic from `from` to `to` is dropped; the reverse direction still flows.",
            (
                Param("from", "region-or-selector", required=True, doc="region or node selector"),
                Param("to", "region-or-selector", required=True, doc="region or node selector"),
                _MODE,
            ),
            rules=(_different_ends,),
        ),
        FaultDef(
            "isolate-node",
            "network",
            "Cut every link into the target nodes from other regions.",
            (_TARGET, _MODE),
        ),
        FaultDef(
            "latency",
            "network",
            "Set (or add to) the RTT and jitter of matching links.",
            (
                _LINKS,
                Param("rtt", "duration", required=True, doc="round-trip time, e.g. 200ms"),
                Param("jitter", "duration", default=0.0),
                Param("mode", "enum", default="set", choices=("set", "add")),
            ),
        ),
        FaultDef(
            "bandwidth",
            "network",
            "Limit the bandwidth of matching links.",
            (_LINKS, Param("rate_kbps", "number", required=True, min=0, min_exclusive=True)),
        ),
        FaultDef(
            "flaky",
            "network",
            "Make matching links misbehave with a probability (Toxiproxy toxicity).",
            (
                _LINKS,
                Param("kind", "enum", required=True, choices=("reset_peer", "timeout", "slicer")),
                Param("probability", "number", default=1.0, min=0, max=1),
                Param(
                    "timeout",
                    "duration",
                    doc="reset_peer/timeout: delay before the reset/close (0 = hold forever for timeout)",
                ),
                Param("average_size", "int", min=1, doc="slicer: average slice size in bytes"),
                Param(
                    "size_variation",
                    "int",
                    min=0,
                    doc="slicer: variation of the slice size in bytes",
                ),
                Param("delay_us", "int", min=0, doc="slicer: delay between slices in microseconds"),
            ),
        ),
        # ---- process ----
        FaultDef(
            "kill", "process", "SIGKILL the targets; with `for`, restart them after it.", (_TARGET,)
        ),
        FaultDef(
            "stop",
            "process",
            "Stop the targets gracefully (SIGTERM, SIGKILL after `grace`); with `for`, start them again after it.",
            (_TARGET, Param("grace", "duration", default=5.0)),
        ),
        FaultDef(
            "start", "process", "Start the targets (if not running).", (_TARGET,), instant=True
        ),
        FaultDef("pause", "process", "SIGSTOP the targets; SIGCONT at heal.", (_TARGET,)),
        # ---- clock ----
        FaultDef(
            "clock-skew",
            "clock",
            "Shift the targets' wall clock by `offset`, or set it to the absolute `time`; reset at heal.",
            (
                _TARGET,
                Param("offset", "signed-duration", doc="e.g. -2s, +500ms"),
                # Not `at`: that key is the schedule's start time of every entry.
                Param("time", "datetime", doc="absolute clock, ISO 8601, e.g. 2027-01-01T00:00:00"),
            ),
            clock=True,
            one_of=(("offset", "time"),),
        ),
        FaultDef(
            "clock-reset",
            "clock",
            "Give the targets the real time again.",
            (_TARGET,),
            instant=True,
            clock=True,
        ),
        # ---- quorum ----
        FaultDef(
            "degrade-quorum",
            "quorum",
            "Shrink the membership to the survivors (through the system adapter); restored at heal.",
            (Param("survivors", "selector", required=True),),
        ),
        FaultDef(
            "restore-quorum", "quorum", "Grow the membership back to every node.", (), instant=True
        ),
    )
}

# Zone, node-group, clock-motion, resource and disk faults (their rules live there too).
from chaoskit.experiment import fault_rules  # noqa: E402

FAULTS.update({f.name: f for f in fault_rules.DEFS})
PARAM_TYPES += fault_rules.PARAM_TYPES

# Keys a schedule entry may carry besides the fault's own parameters.
ENTRY_KEYS: tuple[str, ...] = ("fault", "at", "for", "id")


def fault_names() -> list[str]:
    return sorted(FAULTS)
