"""chaoskit.systems: one adapter per system under test, looked up by kind.

Every kind -- the built-in ones included -- is registered through the
`chaoskit.systems` entry-point group: name -> "module:AdapterClass". A team adds
its own system by installing a distribution whose pyproject.toml says

    [project.entry-points."chaoskit.systems"]
    mystore = "mystore_chaos.adapter:MyStoreAdapter"

This lookup serves the validator, the engine and the Locust processes (also
remote workers: install the distribution there too). Adapters are imported only
when asked for: one broken or missing adapter must not break validation of
experiments using another.

In a source checkout (an editable install) chaoskit's own pyproject.toml is read
as well, so that a kind added there counts before the package is reinstalled.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.systems.base import SystemAdapter

GROUP = "chaoskit.systems"
_SOURCE_PYPROJECT = Path(__file__).resolve().parent.parent.parent / "pyproject.toml"


@dataclass(frozen=True)
class SystemEntry:
    """One registered system kind and where it comes from."""

    kind: str
    target: str  # "module:AdapterClass"
    distribution: str  # the installed distribution that registers it
    version: str = ""

    @property
    def module(self) -> str:
        return self.target.split(":", 1)[0]


class UnknownSystemError(LookupError):
    """A system kind no adapter is registered for (message lists the known kinds)."""


def _source_tree_entries() -> dict[str, str]:
    """chaoskit's own `chaoskit.systems` table when running from a source checkout."""
    try:
        data = tomllib.loads(_SOURCE_PYPROJECT.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    project = data.get("project", {})
    if project.get("name") != "chaoskit":
        return {}
    return dict(project.get("entry-points", {}).get(GROUP, {}))


@cache
def entries() -> dict[str, SystemEntry]:
    """Every registered kind (first registration wins; see `conflicts()`)."""
    found: dict[str, SystemEntry] = {}
    for kind, target in _source_tree_entries().items():
        found[kind] = SystemEntry(kind, target, "chaoskit", _version("chaoskit"))
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "(unknown distribution)"
        version = ep.dist.version if ep.dist is not None else ""
        found.setdefault(ep.name, SystemEntry(ep.name, ep.value, dist, version))
    return found


def conflicts() -> dict[str, list[SystemEntry]]:
    """Kinds registered by more than one distribution, with every registration."""
    seen: dict[str, list[SystemEntry]] = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "(unknown distribution)"
        seen.setdefault(ep.name, []).append(SystemEntry(ep.name, ep.value, dist))
    return {k: v for k, v in seen.items() if len({(e.distribution, e.target) for e in v}) > 1}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


def known_kinds() -> list[str]:
    return sorted(entries())


def get_adapter(kind: str) -> type[SystemAdapter]:
    """The adapter CLASS for `kind` (instantiate it with the system's options).

    Raises UnknownSystemError for a kind that is not registered, and ImportError
    (naming the module and the distribution) when it is registered but cannot be
    imported.
    """
    entry = entries().get(kind)
    if entry is None:
        raise UnknownSystemError(
            f"unknown system kind {kind!r}; known kinds: {', '.join(known_kinds())} "
            f"(a plugin registers one in the {GROUP!r} entry-point group)"
        )
    module_name, _, attr = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(
            f"adapter for system {kind!r} ({module_name}, from {entry.distribution}) "
            f"cannot be imported: {e}"
        ) from e
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(
            f"adapter for system {kind!r}: {module_name} (from {entry.distribution}) "
            f"has no {attr!r}"
        ) from None
