"""`checks.isolation`: a transactional history satisfies a consistency model.

checks:
  isolation: serializable        # or {consistency: snapshot-isolation}
  isolation: {consistency: serializable, expect: [G2-item]}   # a demonstrated weakness

With `expect`, the run passes when the checker finds at least one of those anomaly
classes among those the model forbids (a known weakness still shows), and fails when
none appears.
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
    expect: list[str] | None = None  # anomaly classes of which one must be found


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> IsolationCheck | None:
    """A consistency model name, or {consistency: name}; transactional workloads only."""
    if isinstance(raw, dict):
        m = v.mapping(path, raw, ("consistency", "expect"), "isolation")
        if m is None or "consistency" not in m:
            if m is not None and set(m) <= {"expect"}:
                v.err(path, f"isolation needs consistency: one of {', '.join(CONSISTENCY)}")
            return None  # an unknown field was reported already
        model = v.choice((*path, "consistency"), m["consistency"], CONSISTENCY, "consistency model")
        expect = _expect(v, (*path, "expect"), m.get("expect"), model) if "expect" in m else None
        if "expect" in m and expect is None:
            return None
    else:
        model = v.choice(path, raw, CONSISTENCY, "consistency model")
        expect = None
    if model is None:
        return None
    if load.workload not in TXN_WORKLOADS:
        v.err(
            path,
            f"isolation checks transactional histories; set load.workload to one of "
            f"{', '.join(TXN_WORKLOADS)} (it is {load.workload!r})",
        )
        return None
    return IsolationCheck(consistency=model, expect=expect)


def _expect(v: Context, path: PathT, raw: Any, model: str | None) -> list[str] | None:
    if model is None:
        return None
    forbidden = sorted(CONSISTENCY[model][0])
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        v.err(path, f"expected a list of anomaly classes, e.g. [G2-item]; got {v.show(raw)}")
        return None
    bad = [x for x in raw if x not in forbidden]
    if bad:
        v.err(
            path,
            f"{', '.join(map(repr, bad))}: not an anomaly {model} forbids; valid: "
            f"{', '.join(forbidden)}",
        )
        return None
    return list(raw)


def evaluate(check: IsolationCheck, ev: Evidence) -> list[CheckResult]:
    doc = ev.isolation or {"verdict": "error", "explanation": "the isolation checker did not run"}
    model = check.consistency
    verdict = doc.get("verdict", "error")
    ok = verdict == "valid"
    if check.expect and verdict in ("valid", "invalid"):
        found = [k for k in doc.get("anomaly_types", []) if k in check.expect]
        want = " or ".join(check.expect)
        msg = (
            f"isolation: not {model}, as expected: {', '.join(found)} found"
            if found
            else f"isolation: expected {want} under {model}, found "
            + (", ".join(doc.get("anomaly_types", [])) or "no anomaly")
        )
        return [CheckResult("isolation", bool(found), msg, bound=model, observed=verdict)]
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
