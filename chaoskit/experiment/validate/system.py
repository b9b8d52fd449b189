"""The `system:` section: the system kind and its options. The adapter's own
checks of its block (SystemAdapter.check_options, with a path per mistake) run once
the load section is known (validate/__init__.py)."""

from __future__ import annotations

import copy
from typing import Any

from chaoskit.experiment.source import PathT
from chaoskit.experiment.spec import (
    SystemSpec,
)
from chaoskit.experiment.validate.context import (
    DEFAULT_SYSTEM,
    Context,
    show,
)


def system_section(v: Context, raw: Any, backend: str | None) -> SystemSpec | None:
    path: PathT = ("system",)
    if raw is None:
        raw = dict(DEFAULT_SYSTEM)
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict):
        v.err(path, f"system must be a mapping {{kind: geokv, mode: quorum, ...}}; got {show(raw)}")
        return None
    from chaoskit import systems

    kind = raw.get("kind", "geokv")
    if v.choice((*path, "kind"), kind, systems.known_kinds(), "system kind") is None:
        return None
    options = {k: copy.deepcopy(val) for k, val in raw.items() if k not in ("kind", "options")}
    if "options" in raw:
        if not isinstance(raw["options"], dict):
            v.err((*path, "options"), f"options must be a mapping; got {show(raw['options'])}")
        else:
            options.update(copy.deepcopy(raw["options"]))
    v.system_kind = kind
    try:
        cls = systems.get_adapter(kind)
    except ImportError as e:
        v.warn((*path, "kind"), f"system options not checked: {e}")
        cls = None
    if cls is not None:
        v.adapter_cls = cls
        for k, val in cls.defaults.items():  # written out in the resolved doc
            options.setdefault(k, copy.deepcopy(val))
        try:
            adapter = cls(options)
            v.adapter_cls = adapter  # its attributes may depend on the options (generic)
            problems = adapter.validate(backend or "local") if backend else []
        except Exception as e:  # an adapter rejecting its options: say so at the system
            v.err(path, f"{kind}: invalid options: {e}")
            problems = []
        for p in problems:
            v.err(path, p)
        if cls.needs_single_address and backend == "local" and not problems:
            v.err(
                ("backend",),
                f"system {kind!r} needs one address per member reachable from every region, "
                "which only the docker backend gives; use backend: docker",
            )
    return SystemSpec(kind=kind, options=options)
