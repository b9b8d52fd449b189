"""The `isolation` check of a run: the transactional history judged against the
experiment's consistency model (chaoskit.checker.isolation), as a CheckResult for
check.json and an HTML fragment (each anomaly explained and drawn) for report.html.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaoskit.report.spec import get


def consistency_of(experiment: Any) -> str | None:
    """The consistency model named by `checks.isolation` (a name, {consistency: name}
    or an IsolationCheck), or None when the experiment has no isolation check."""
    checks = get(experiment, "checks") if experiment is not None else None
    iso = get(checks, "isolation") if checks is not None else None
    if iso is None or isinstance(iso, str):
        return iso
    return get(iso, "consistency")


def isolation_verdict(
    run_dir: Path, experiment: Any, workload: str, objs: dict, reuse: dict | None
) -> tuple[Any, dict | None]:
    """(CheckResult | None, the checker's verdict dict | None)."""
    from chaoskit.report.checks import CheckResult

    model = consistency_of(experiment)
    if model is None:
        return None, None
    if reuse is not None and reuse.get("isolation"):
        doc = reuse["isolation"]
    else:
        doc = _run(run_dir, workload, model, objs)
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
    return CheckResult("isolation", ok, msg, bound=model, observed=verdict), doc


def _run(run_dir: Path, workload: str, model: str, objs: dict) -> dict:
    from chaoskit.checker import read_history
    from chaoskit.checker.isolation import check_isolation

    try:
        history = objs.get("history") or read_history(run_dir / "history.jsonl")
        return check_isolation(history, workload, model).to_dict()
    except Exception as e:  # noqa: BLE001 - a broken history is a verdict, not a crash
        return {"verdict": "error", "explanation": f"{type(e).__name__}: {e}"}


def isolation_fragment(report: Any) -> Any:
    """report.html's isolation section body (markup-safe), or None."""
    doc = getattr(report, "isolation", None)
    if not doc or "anomalies" not in doc:
        return None
    import markupsafe

    from chaoskit.checker.isolation.report import anomalies_html

    return markupsafe.Markup(anomalies_html(doc))
