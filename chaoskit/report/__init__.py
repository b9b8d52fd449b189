"""chaoskit.report: the DR scorecard, checks evaluation, report.html, live metrics.

    evaluate(run_dir, experiment, topology, *, link_state=None) -> CheckReport   # chaoskit.report.checks
    LiveMetrics(topology=None).start(history_path, events_path, port) / .stop()  # chaoskit.report.live
    build_scorecard(load_run(run_dir)) -> Scorecard                              # scorecard, data

See docs/report.md for the definitions (phases, RTO, lost writes) and check.json keys.
Exports are lazy so that importing the package does not pull in matplotlib or
prometheus_client.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "evaluate": "chaoskit.report.checks",
    "CheckReport": "chaoskit.report.checks",
    "CheckResult": "chaoskit.report.checks",
    "LiveMetrics": "chaoskit.report.live",
    "build_scorecard": "chaoskit.report.scorecard",
    "Scorecard": "chaoskit.report.scorecard",
    "load_run": "chaoskit.report.data",
    "ReportError": "chaoskit.report.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
