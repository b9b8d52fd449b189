"""A clock fault on a system whose clock cannot be skewed is refused with the reason
in words (the adapter's `clock_skew_reason`) and what would be valid instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit import systems
from chaoskit.experiment import ExperimentError, load_experiment
from chaoskit.systems.base import SystemAdapter

EXP = """\
name: skew-etcd
backend: docker
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 1}}
    xian: {location: xian, zones: {xa-dc1: 1}}
    shanghai: {location: shanghai, zones: {sh-dc1: 1}}
system: {kind: etcd}
load: {duration: 10s}
schedule:
  - {at: 2s, for: 3s, fault: clock-skew, target: xian-1, offset: -2s}
"""


def _one_error(tmp_path: Path, text: str):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    with pytest.raises(ExperimentError) as ei:
        load_experiment(p)
    errs = ei.value.errors
    assert len(errs) == 1, "\n".join(map(str, errs))
    assert str(p) in str(ei.value)
    return errs[0]


def test_etcd_clock_skew_says_why_and_what_is_valid(tmp_path: Path) -> None:
    e = _one_error(tmp_path, EXP)
    assert (e.line, e.field) == (11, "schedule.0.fault")
    # why, in words, from EtcdAdapter.clock_skew_reason
    assert "'etcd'" in e.message
    assert "Go" in e.message and "libfaketime" in e.message
    # what would be valid: a skewable system (geokv) or dropping the fault
    assert "geokv" in e.message
    assert "remove this clock-skew fault" in e.message
    assert "(geokv)" in e.message.split("Valid:")[1]  # only skewable systems offered


class RigidAdapter(SystemAdapter):
    """No clock_skew_reason: the message falls back to naming the adapter flag."""

    kind = "rigid"
    supports_clock_skew = False
    workloads = ("register",)

    def node_spec(self, node, ctx):  # pragma: no cover - never run
        raise NotImplementedError

    def wait_ready(self, ctx, nodes, deadline_s):  # pragma: no cover
        raise NotImplementedError

    def client(self, view, region, timeout_s):  # pragma: no cover
        raise NotImplementedError


def test_reason_falls_back_to_the_adapter_flag(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(
        systems.entries(),
        "rigid",
        systems.SystemEntry("rigid", f"{__name__}:RigidAdapter", "tests"),
    )
    e = _one_error(tmp_path, EXP.replace("{kind: etcd}", "{kind: rigid}"))
    assert "RigidAdapter" in e.message and "supports_clock_skew = False" in e.message
    assert "geokv" in e.message and "remove this clock-skew fault" in e.message


def test_geokv_clock_skew_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "exp.yaml"
    p.write_text(EXP.replace("{kind: etcd}", "{kind: geokv, mode: quorum}"))
    exp = load_experiment(p)
    assert [f.kind for f in exp.all_faults()] == ["clock-skew"]
