"""The isolation checker run on a transactional history for the `isolation` check
(chaoskit/checks/isolation.py judges the verdict), and the HTML fragment (each
anomaly explained and drawn) for report.html.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def isolation_doc(
    run_dir: Path, check: Any, workload: str, objs: dict, reuse: dict | None
) -> dict | None:
    """The isolation checker's verdict (its to_dict()) for `check` (an IsolationCheck,
    None: no isolation check), reusing an earlier check.json's when given."""
    if check is None:
        return None
    if reuse is not None and reuse.get("isolation"):
        return reuse["isolation"]
    return _run(run_dir, workload, check.consistency, objs)


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
