"""The README stays true to the checkout: every shipped experiment is in its table,
every dependency (and test extra) is in its list of libraries with what it is for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_shipped_experiment_is_in_the_table() -> None:
    missing = [
        p.name
        for p in sorted((ROOT / "experiments").glob("*.yaml"))
        if f"| `{p.name}` |" not in README
    ]
    assert missing == [], f"README's table of shipped experiments lacks {missing}"


def test_every_dependency_is_in_the_libraries_table() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    names = {re.split(r"[\[<>=~! ]", d, maxsplit=1)[0].lower() for d in deps}
    section = README.split("## Libraries, and why", 1)[1].split("\n## ", 1)[0].lower()
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    missing = sorted(n for n in names if not any(n in row for row in rows))
    assert missing == [], f"README's libraries table lacks {missing}"
