"""Build small histories in code (tests, examples, other packages' fixtures).

    h = history_of([
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (1, "invoke", "read", None),
        (1, "ok", "read", 1),
    ])

Each event is (process, type, f, value) or (process, type, f, value, key), in
history order; times are the positions in milliseconds (as ns) unless given as a
sixth element; `phase` as a seventh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chaoskit.checker.history import History, Record, freeze, make_history


def history_of(events: Iterable[Sequence[Any]], key: Any = None) -> History:
    records = []
    for i, ev in enumerate(events):
        process, typ, f, value = ev[:4]
        k = ev[4] if len(ev) > 4 else key
        t = ev[5] if len(ev) > 5 else i * 1_000_000
        phase = ev[6] if len(ev) > 6 else None
        records.append(
            Record(
                index=i,
                process=process,
                type=typ,
                f=f,
                key=freeze(k),
                value=freeze(value),
                time=t,
                line=i + 1,
                phase=phase,
            )
        )
    return make_history(records, path=None, format="chaoskit")
