"""`checks.isolation`: a transactional history satisfies a consistency model.

checks:
  isolation: serializable        # or {consistency: snapshot-isolation}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.checker.isolation import TXN_MODELS
from chaoskit.checker.isolation.consistency import CONSISTENCY
from chaoskit.checks.base import CheckKind, CheckResult, Evidence

if TYPE_CHECKING:
    from chaoskit.experiment.source import PathT
    from chaoskit.experiment.spec import LoadSpec
    from chaoskit.experiment.validate.context import Context

TXN_WORKLOADS = tuple(TXN_MODELS)


@dataclass
class IsolationCheck:
    consistency: str  # a model of chaoskit.checker.isolation.consistency.CONSISTENCY


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> IsolationCheck | None:
    """A consistency model name, or {consistency: name}; transactional workloads only."""
    if isinstance(raw, dict):
        m = v.mapping(path, raw, ("consistency",), "isolation")
        if m is None or "consistency" not in m:
            if m == {}:
                v.err(path, f"isolation needs consistency: one of {', '.join(CONSISTENCY)}")
            return None  # an unknown field was reported already
        model = v.choice((*path, "consistency"), m["consistency"], CONSISTENCY, "consistency model")
    else:
        model = v.choice(path, raw, CONSISTENCY, "consistency model")
    if model is None:
        return None
    if load.workload not in TXN_WORKLOADS:
        v.err(
            path,
            f"isolation checks transactional histories; set load.workload to one of "
            f"{', '.join(TXN_WORKLOADS)} (it is {load.workload!r})",
        )
        return None
    return IsolationCheck(consistency=model)


def evaluate(check: IsolationCheck, ev: Evidence) -> list[CheckResult]:
    doc = ev.isolation or {"verdict": "error", "explanation": "the isolation checker did not run"}
    model = check.consistency
    verdict = doc.get("verdict", "error")
    ok = verdict == "valid"
    if ok:
        n = (doc.get("counts") or {}).get("ok", 0)
        msg = f"isolation: {model} holds ({n} committed transactions checked)"
    elif verdict == "invalid":
        first = doc["anomalies"][0]
        kinds = ", ".join(doc.get("anomaly_types", []))
        msg = f"isolation: not {model}: {kinds}; {first['kind']}: {first['explanation']}"
    else:
        msg = f"isolation: {verdict}: {doc.get('reason') or doc.get('explanation', '')}"
    return [CheckResult("isolation", ok, msg, bound=model, observed=verdict)]


KIND = CheckKind("isolation", parse, evaluate)
