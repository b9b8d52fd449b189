"""`checks.unexpected_exits`: at most `max` nodes stopped while no fault explained it.

The evidence is the run's `node-exit` events (chaoskit/nodewatch.py): a node seen
running, then seen stopped, while no fault that may stop it (a kill, a pause, a disk
or clock fault on it, a quorum change) was in force. `true` means `{max: 0}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.checks.base import CheckKind, CheckResult, Evidence

if TYPE_CHECKING:
    from chaoskit.experiment.source import PathT
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate.context import Context


@dataclass
class UnexpectedExitsCheck:
    max: int = 0  # node exits no fault explains, allowed


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> UnexpectedExitsCheck | None:
    if raw is True:
        return UnexpectedExitsCheck()
    if isinstance(raw, dict):
        m = v.mapping(path, raw, ("max",), "unexpected_exits")
        if m is None:
            return None
        mx = v.number((*path, "max"), m.get("max", 0), lo=0, integer=True)
        return None if mx is None else UnexpectedExitsCheck(max=int(mx))
    if raw is not False:
        v.err(path, f"expected {{max: 0}} or true; got {v.show(raw)}")
    return None


def evaluate(check: UnexpectedExitsCheck, ev: Evidence) -> list[CheckResult]:
    exits = ev.node_exits
    n = len(exits)
    ok = n <= check.max
    what = "; ".join(
        f"{e.get('node')} ({e.get('how')}) at {e.get('time', 0) / 1e9:.1f} s" for e in exits
    )
    msg = (
        f"unexpected_exits: {n} node(s) stopped while no fault covered them "
        f"({'<=' if ok else '>'} max {check.max})" + (f": {what}" if what else "")
    )
    observed = [{k: e.get(k) for k in ("node", "region", "how", "time")} for e in exits]
    return [CheckResult("unexpected_exits", ok, msg, bound=asdict(check), observed=observed)]


KIND = CheckKind("unexpected_exits", parse, evaluate)
