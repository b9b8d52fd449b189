"""The shape of the package (docs/architecture.md): no import cycle that spans
packages, none inside faults/ or report/, one duration parser, no test-only
switches in production code, test support used by tests only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx

PKG = Path(__file__).resolve().parent.parent / "chaoskit"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        name = ".".join(f.relative_to(PKG.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def _runtime_imports(f: Path, name: str, mods: dict[str, Path]) -> set[str]:
    """chaoskit modules `f` imports at run time (`if TYPE_CHECKING:` blocks left out;
    `from pkg import submodule` counts as the submodule, not the package)."""
    tree = ast.parse(f.read_text(encoding="utf-8"))
    typing_only = {
        id(c)
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        for c in ast.walk(n)
    }
    pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for n in ast.walk(tree):
        if id(n) in typing_only:
            continue
        if isinstance(n, ast.Import):
            found |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            subs = {f"{base}.{a.name}" for a in n.names}
            found |= subs & set(mods)
            if not subs <= set(mods):
                found.add(base)
    out = set()
    for m in found:
        while m and m not in mods:
            m = m.rpartition(".")[0]
        if m and m != name:
            out.add(m)
    return out


def _graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(mods)
    for name, f in mods.items():
        g.add_edges_from((name, dep) for dep in _runtime_imports(f, name, mods))
    return g


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_spans_packages() -> None:
    g = _graph()
    assert len(g) > 100 and g.number_of_edges() > 300  # the graph really was read
    cycles = [
        sorted(c)
        for c in nx.strongly_connected_components(g)
        if len(c) > 1 and len({_package(m) for m in c}) > 1
    ]
    assert not cycles, cycles


def test_no_import_cycle_inside_faults_or_report() -> None:
    g = _graph()
    for pkg in ("chaoskit.faults", "chaoskit.report", "chaoskit.checks"):
        sub = g.subgraph(m for m in g if m == pkg or m.startswith(pkg + "."))
        assert list(nx.simple_cycles(sub)) == [], pkg


def test_the_cycle_finder_sees_a_cycle(tmp_path: Path) -> None:
    """Known bad: two modules importing each other are reported."""
    (tmp_path / "a.py").write_text("from chaoskit.faults import b\n")
    (tmp_path / "b.py").write_text("import chaoskit.faults.a\n")
    mods = {"chaoskit.faults.a": tmp_path / "a.py", "chaoskit.faults.b": tmp_path / "b.py"}
    g = nx.DiGraph()
    for name, f in mods.items():
        g.add_edges_from((name, d) for d in _runtime_imports(f, name, mods))
    assert list(nx.simple_cycles(g))


def _sources() -> dict[Path, str]:
    return {f: f.read_text(encoding="utf-8") for f in PKG.rglob("*.py")}


def test_one_duration_parser() -> None:
    defs = [
        f"{f.relative_to(PKG.parent)}: {m.group(0)}"
        for f, text in _sources().items()
        for m in re.finditer(r"def \w*(parse_duration|_duration_s?|seconds)\(", text)
    ]
    assert defs == [
        "chaoskit/units.py: def parse_duration(",
        "chaoskit/units.py: def seconds(",
    ], defs
    # a second parser would compile its own unit pattern (as the old ones did)
    unit_regex = re.compile(r"re\.compile\(.*\bms\|s\b")
    assert unit_regex.search('_DUR = re.compile(r"^\\s*(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?\\s*$")')
    elsewhere = [
        str(f) for f, t in _sources().items() if unit_regex.search(t) and f.name != "units.py"
    ]
    assert not elsewhere, elsewhere


def test_no_test_only_switches_in_the_package() -> None:
    hits = [str(f) for f, text in _sources().items() if "CHAOSKIT_TEST_" in text]
    assert not hits, hits


def test_test_support_is_imported_by_tests_only() -> None:
    g = _graph()
    users = {
        m
        for m, dep in g.edges
        if dep.startswith("chaoskit.testing") and not m.startswith("chaoskit.testing")
    }
    assert not users, users


def test_validation_is_split_by_section() -> None:
    sizes = {
        f.name: len(f.read_text(encoding="utf-8").splitlines())
        for f in (PKG / "experiment" / "validate").glob("*.py")
    }
    assert {"topology.py", "system.py", "load.py", "schedule.py", "faults.py"} <= set(sizes)
    assert max(sizes.values()) <= 400, sizes


def test_contracts_are_read_without_probing() -> None:
    """SystemAdapter and Backend declare every hook: nobody getattr()s them."""
    probe = re.compile(r"getattr\(\s*[\w.]*(adapter|backend|adapter_cls)\w*\s*,\s*\"")
    assert probe.search('reason = getattr(adapter_cls, "clock_skew_reason", None)')
    hits = [
        f"{f.relative_to(PKG.parent)}: {m.group(0)}"
        for f, text in _sources().items()
        for m in probe.finditer(text)
    ]
    assert not hits, hits
