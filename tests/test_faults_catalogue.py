"""The fault registry implements exactly the experiment room's catalogue."""

from __future__ import annotations

from chaoskit.experiment.faults_schema import FAULTS as SCHEMA
from chaoskit.faults.base import FAMILY, known_faults


def test_registry_matches_the_schema_table() -> None:
    assert known_faults() == sorted(SCHEMA), (
        "every fault in faults_schema.py has behaviour, and no other"
    )
    for name, d in SCHEMA.items():
        assert FAMILY[name] == d.family, name
