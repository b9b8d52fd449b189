"""chaoskit.checker: linearizability (P-compositional WGL), lost-write analysis,
history import/export. See docs/checker.md."""

from chaoskit.checker.history import History, HistoryError, Op, Record, read_history, write_history
from chaoskit.checker.linearizability import LinearizabilityResult, check_linearizable
from chaoskit.checker.models import ILLEGAL, MODELS, Model, get_model, register_model

__all__ = [
    "ILLEGAL",
    "History",
    "HistoryError",
    "LinearizabilityResult",
    "MODELS",
    "Model",
    "Op",
    "Record",
    "analyse_lost_writes",
    "check_linearizable",
    "get_model",
    "read_history",
    "register_model",
    "render_html",
    "write_history",
]


def __getattr__(name: str):  # lazy: keep `import chaoskit.checker` light
    if name == "analyse_lost_writes":
        from chaoskit.checker.lost_writes import analyse_lost_writes

        return analyse_lost_writes
    if name == "render_html":
        from chaoskit.checker.html import render_html

        return render_html
    raise AttributeError(name)
