"""System kinds come from the `chaoskit.systems` entry-point group, built-in ones too."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit import systems

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def test_builtin_kinds_are_entry_points() -> None:
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=systems.GROUP)}
    assert installed["geokv"] == "chaoskit.systems.geokv.adapter:GeoKVAdapter"
    assert installed["etcd"] == "chaoskit.systems.etcd.adapter:EtcdAdapter"
    assert systems.get_adapter("geokv").kind == "geokv"
    assert systems.entries()["etcd"].distribution == "chaoskit"


def test_unknown_and_broken_kinds_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        systems.UnknownSystemError, match=r"'nosuch'; known kinds: .*etcd, generic, geokv"
    ):
        systems.get_adapter("nosuch")
    broken = systems.SystemEntry("gone", "gone_pkg.adapter:Gone", "gone-dist")
    monkeypatch.setitem(systems.entries(), "gone", broken)
    with pytest.raises(ImportError, match=r"'gone' \(gone_pkg.adapter, from gone-dist\)"):
        systems.get_adapter("gone")


def test_systems_command_lists_kinds_with_their_origin() -> None:
    r = subprocess.run([CHAOSKIT, "systems"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "geokv: chaoskit.systems.geokv.adapter:GeoKVAdapter  (distribution chaoskit" in r.stdout
    assert "etcd: chaoskit.systems.etcd.adapter:EtcdAdapter  (distribution chaoskit" in r.stdout
    assert "clock skew yes" in r.stdout and "docker backend only" in r.stdout


def test_systems_json_names_module_and_distribution() -> None:
    r = subprocess.run([CHAOSKIT, "systems", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = {row["kind"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["generic"]["adapter"] == "chaoskit.systems.generic.adapter:GenericAdapter"
    assert rows["generic"]["distribution"] == "chaoskit"
    assert rows["etcd"]["clock_skew"] is False and rows["geokv"]["clock_skew"] is True
