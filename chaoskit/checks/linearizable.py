"""`checks.linearizable`: the history is linearizable under the workload's model."""

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

MODELS = ("register", "cas-register", "set")
TXN_WORKLOADS = tuple(TXN_MODELS)  # judged by the isolation check instead


@dataclass
class LinearizableCheck:
    model: str  # register | cas-register | set (defaults from the workload)
    timeout_s: float = 60.0
    expect: bool = True  # false: the experiment demonstrates a violation and expects one


def parse(v: Context, path: PathT, raw: Any, load: LoadSpec) -> LinearizableCheck | None:
    if raw not in (None, False) and load.workload in TXN_WORKLOADS:
        v.err(
            path,
            f"workload {load.workload!r} is transactional: check it with isolation: "
            f"<{' | '.join(CONSISTENCY)}> instead of linearizable",
        )
        return None
    if raw is True:
        return LinearizableCheck(model=load.workload)
    if raw in (None, False):
        return None
    if not isinstance(raw, dict):
        v.err(
            path,
            f"expected true, false or {{model: register|cas-register|set, timeout: 60s, expect: true|false}}; got {v.show(raw)}",
        )
        return None
    m = v.mapping(path, raw, ("model", "timeout", "expect"), "linearizable")
    if m is None:
        return None
    model = v.choice((*path, "model"), m.get("model", load.workload), MODELS, "model")
    if (
        model
        and model != load.workload
        and not (model == "register" and load.workload == "cas-register")
    ):
        v.err(
            (*path, "model"),
            f"model {model!r} does not fit workload {load.workload!r} (load.workload); use {load.workload}",
        )
        model = None
    t = v.duration((*path, "timeout"), m["timeout"], positive=True) if "timeout" in m else 60.0
    expect = m.get("expect", True)
    if not isinstance(expect, bool):
        v.err((*path, "expect"), f"expected true or false; got {v.show(expect)}")
        expect = True
    if model and t is not None:
        return LinearizableCheck(model=model, timeout_s=t, expect=expect)
    return None


def evaluate(check: LinearizableCheck, ev: Evidence) -> list[CheckResult]:
    if not check.expect:
        return [_expected_violation(ev.linearizability)]
    lin = ev.linearizability or {}
    verdict = lin.get("verdict", "error")
    ok = verdict == "linearizable"
    row = ev.scorecard.row("*", "all")
    if ok and row is not None and row.stats.ok == 0:
        # An empty history is trivially linearizable; a run whose clients never
        # succeeded has shown nothing, and must not pass.
        ok, verdict = False, "vacuous"
        msg = "linearizable: vacuous: no operation completed ok, so nothing was checked"
    elif ok:
        n = lin.get("keys_checked", "?")
        msg = f"linearizable: yes ({n} key{'' if n == 1 else 's'} checked)"
    else:
        expl = str(lin.get("explanation") or "").strip().splitlines()
        key = lin.get("failing_key")
        msg = f"linearizable: {verdict}" + (f" on key {key}" if key is not None else "")
        # The checker's first line repeats the key; its second names the operation.
        if len(expl) > 1 and expl[0].lower().startswith("not linearizable"):
            msg += f": {expl[1]}"
        elif expl:
            msg += f": {expl[0]}"
    return [CheckResult("linearizable", ok, msg, bound=True, observed=verdict)]


def _expected_violation(lin: dict | None) -> CheckResult:
    """`linearizable: {expect: false}`: the run passes only when a violation is found."""
    verdict = (lin or {}).get("verdict", "error")
    if verdict == "not-linearizable":
        key = (lin or {}).get("failing_key")
        where = f" on key {key}" if key is not None else ""
        msg = f"linearizable: no{where}, as this experiment expects (the weakness it demonstrates was found)"
        return CheckResult("linearizable", True, msg, bound=False, observed=verdict)
    if verdict == "linearizable":
        msg = (
            "linearizable: yes, but this experiment expects a violation: the weakness it "
            "demonstrates did not show, so the drill has lost its power"
        )
    else:
        msg = f"linearizable: {verdict}: the expected violation was not established"
    return CheckResult("linearizable", False, msg, bound=False, observed=verdict)


KIND = CheckKind("linearizable", parse, evaluate)
