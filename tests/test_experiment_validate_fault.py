"""validate_fault: one fault entry checked against a validated experiment."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.experiment import load_experiment
from chaoskit.experiment.validate import validate_fault

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def exp():
    return load_experiment(ROOT / "experiments" / "smoke.yaml")


def test_a_valid_fault_gets_its_defaults(exp) -> None:
    spec, errors = validate_fault(exp, {"fault": "cut-region", "region": "xian"})
    assert errors == []
    assert spec is not None and spec.kind == "cut-region"
    assert spec.params == {"region": "xian", "mode": "blackhole"}


def test_errors_name_the_parameter_and_what_is_valid(exp) -> None:
    spec, errors = validate_fault(exp, {"fault": "cut-region", "region": "nowhere"})
    assert spec is None
    assert [e.field for e in errors] == ["region"]
    assert "does not exist" in errors[0].message and "xian" in errors[0].message


def test_cross_field_rules_apply(exp) -> None:
    regions = [r.name for r in exp.topology.regions]
    spec, errors = validate_fault(exp, {"fault": "one-way", "from": regions[0], "to": regions[0]})
    assert spec is None
    assert [(e.field, e.message) for e in errors] == [
        ("to", "from and to must be different regions")
    ]


def test_unknown_fault_suggests_the_name(exp) -> None:
    spec, errors = validate_fault(exp, {"fault": "cut-regoin", "region": "xian"})
    assert spec is None and "did you mean 'cut-region'" in errors[0].message
