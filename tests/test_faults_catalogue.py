"""The fault catalogue: one entry per fault, complete, and read by every consumer."""

from __future__ import annotations

from chaoskit.faults import base
from chaoskit.faults.catalogue import _FAMILIES, FAULTS, effect_of, family_of
from chaoskit.report.plots import FAULT_COLOURS, fault_colour


def test_every_entry_is_complete() -> None:
    names = [f.name for m in _FAMILIES for f in m.FAULTS]
    assert len(names) == len(set(names)), "a fault name is defined twice"
    effects = {base.CUTS_LINKS, base.DEGRADES_LINKS, base.ACTS_ON_NODES, base.NO_EFFECT}
    for name, fd in FAULTS.items():
        assert callable(fd.apply), name
        assert fd.family in FAULT_COLOURS, name
        assert fd.effect in effects, name
        assert all(p.type in base.PARAM_TYPES for p in fd.params), name
        assert family_of(name) == fd.family and effect_of(name) == fd.effect
        assert not (fd.instant and fd.effect), f"{name}: an instant fault has nothing to draw"


def test_documented_defaults() -> None:
    # docs/experiment.md: flaky's probability defaults to 1.
    assert FAULTS["flaky"].param("probability").default == 1.0
    assert FAULTS["flaky"].with_defaults({"kind": "timeout"})["probability"] == 1.0


def test_plot_colours_come_from_the_family() -> None:
    assert fault_colour("kill") == FAULT_COLOURS["process"]
    assert fault_colour("latency") == FAULT_COLOURS["network"]
    assert fault_colour("no-such-fault") == FAULT_COLOURS["other"]


def test_the_base_imports_no_family_module() -> None:
    """The registry is explicit (catalogue.py lists the families); base.py and
    overlay.py, which every family imports, import no family back."""
    import ast
    from pathlib import Path

    families = {f"chaoskit.faults.{m}" for m in ("network", "process", "clock", "quorum")}
    pkg = Path(base.__file__).parent
    for name in ("base.py", "overlay.py", "selectors.py"):
        tree = ast.parse((pkg / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not imported & families, (name, imported & families)
