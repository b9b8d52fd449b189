"""Experiment YAML: parsing, defaults, overrides and every validation error with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from chaoskit import systems
from chaoskit.experiment import (
    ExperimentError,
    RandomNemesis,
    Sequence,
    Timed,
    Wait,
    load_experiment,
    resolved_yaml,
)
from chaoskit.faults.catalogue import FAULTS
from chaoskit.systems.base import SystemAdapter
from chaoskit.topology import geo
from chaoskit.units import parse_duration, parse_rate

GOOD = """\
name: two-cities
description: Beijing (2 DCs) + Xi'an
backend: local
seed: 7
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 2, bj-dc2: 2}}
    xian:    {location: xian,    zones: {xa-dc1: 1}}
  clients: {beijing: 8, xian: 4}
  latency: {beijing-xian: {rtt: 22ms, jitter: 2ms}}
system: {kind: geokv, mode: quorum}
load: {workload: register, keys: 8, duration: 60s, rate: 200/s}
schedule:
  - {at: 15s, for: 30s, fault: cut-region, region: beijing}
  - {at: 20s, fault: degrade-quorum, survivors: {region: xian}}
  - sequence:
      - {wait: 5s}
      - {fault: kill, target: random-node, for: 10s}
  - random: {faults: [{fault: kill, target: random-node}, {fault: cut-region, region: random}], interval: 10s, for: 5s, start: 10s, stop: 50s}
checks:
  linearizable: true
  lost_writes: {max: 0}
  rto: {region: xian, max: 10s}
  availability: [{region: beijing, phase: during, min: 0.5}]
  latency: {region: xian, phase: after, p99: 500ms}
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def errors_of(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> list:
    p = write(tmp_path, text)
    with pytest.raises(ExperimentError) as ei:
        load_experiment(p, list(overrides))
    assert str(p) in str(ei.value)
    return ei.value.errors


def one_error(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()):
    errs = errors_of(tmp_path, text, overrides)
    assert len(errs) == 1, "\n".join(map(str, errs))
    return errs[0]


def test_good_experiment_loads(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, GOOD))
    assert exp.name == "two-cities" and exp.backend == "local" and exp.seed == 7
    t = exp.topology
    assert [n.name for n in t.nodes] == [
        "beijing-1",
        "beijing-2",
        "beijing-3",
        "beijing-4",
        "xian-1",
    ]
    assert t.rtt("beijing", "xian").rtt_ms == pytest.approx(22.0)
    assert t.rtt("beijing", "xian").jitter_ms == pytest.approx(2.0)
    assert t.clients == {"beijing": 8, "xian": 4}
    assert exp.system.kind == "geokv" and exp.system.options == {"mode": "quorum"}
    assert exp.load.duration_s == 60.0 and exp.load.rate == 200.0 and exp.load.timeout_s == 1.0

    timed, degrade, seq, rnd = exp.schedule
    assert isinstance(timed, Timed) and (timed.at_s, timed.for_s) == (15.0, 30.0)
    assert timed.fault.kind == "cut-region" and timed.fault.params == {
        "region": "beijing",
        "mode": "blackhole",
    }
    assert timed.fault.line == 14 and timed.fault.id == "f1"
    assert isinstance(degrade, Timed) and degrade.for_s is None
    assert isinstance(seq, Sequence) and isinstance(seq.steps[0], Wait) and seq.steps[0].s == 5.0
    assert (
        isinstance(seq.steps[1], Timed)
        and seq.steps[1].for_s == 10.0
        and seq.steps[1].fault.line == 18
    )
    assert isinstance(rnd, RandomNemesis) and (
        rnd.interval_s,
        rnd.for_s,
        rnd.start_s,
        rnd.stop_s,
    ) == (10, 5, 10, 50)
    assert [f.kind for f in rnd.faults] == ["kill", "cut-region"]
    assert len({f.id for f in exp.all_faults()}) == 5

    c = exp.checks
    assert c.linearizable.model == "register"
    assert c.lost_writes.max == 0
    assert c.rto[0].region == "xian" and c.rto[0].max_s == 10.0 and c.rto[0].threshold == 0.9
    assert c.availability[0].phase == "during" and c.availability[0].min == 0.5
    assert c.latency[0].p99_ms == pytest.approx(500.0) and c.latency[0].p50_ms is None
    assert exp.warnings == []

    # the resolved document round-trips through the loader
    again = tmp_path / "resolved.yaml"
    again.write_text(resolved_yaml(exp))
    exp2 = load_experiment(again)
    assert exp2.raw == exp.raw and exp2.load == exp.load
    assert [i.fault.params for i in exp2.schedule[:2]] == [i.fault.params for i in exp.schedule[:2]]


def test_defaults(tmp_path: Path) -> None:
    exp = load_experiment(
        write(tmp_path, "topology: {regions: {beijing: {zones: {dc1: 3}}}}\n", "mini.yaml")
    )
    assert exp.name == "mini" and exp.backend == "local" and exp.seed == 0
    assert exp.topology.clients == {"beijing": 2}
    assert exp.system.kind == "geokv" and exp.system.options["mode"] == "quorum"
    ld = exp.load
    assert (
        ld.workload,
        ld.keys,
        ld.duration_s,
        ld.rate,
        ld.read_ratio,
        ld.timeout_s,
        ld.final_reads,
    ) == (
        "register",
        8,
        30.0,
        100.0,
        0.5,
        1.0,
        True,
    )
    assert exp.schedule == [] and exp.checks.linearizable is None
    assert exp.raw["load"]["duration"] == "30s" and exp.raw["system"] == {
        "kind": "geokv",
        "mode": "quorum",
    }


def test_latency_from_geo_model_when_not_overridden(tmp_path: Path) -> None:
    exp = load_experiment(
        write(
            tmp_path,
            "topology: {regions: {a: {location: tokyo, nodes: 1}, b: {location: us-east, nodes: 1}}}\n",
        )
    )
    assert exp.topology.rtt("a", "b") == geo.rtt("ap-northeast", "us-east")


def test_hyphenated_region_pair_in_latency_override(tmp_path: Path) -> None:
    text = "topology: {regions: {us-east: {nodes: 1}, eu-west: {nodes: 1}}, latency: {us-east-eu-west: 90ms}}\n"
    exp = load_experiment(write(tmp_path, text))
    assert exp.topology.rtt("eu-west", "us-east").rtt_ms == pytest.approx(90.0)


# ---- the required error cases, each with its line number ----


def test_bad_indentation(tmp_path: Path) -> None:
    e = one_error(
        tmp_path,
        "name: x\ntopology:\n  regions:\n    beijing: {nodes: 1}\nload:\n  workload: register\n keys: 8\n",
    )
    assert e.line == 7
    assert "indentation" in e.message


def test_tab_indentation(tmp_path: Path) -> None:
    e = one_error(tmp_path, "name: x\ntopology:\n\tregions: {}\n")
    assert e.line == 3 and "tabs" in e.message


def test_unknown_field_suggests_close_match(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("load: {workload:", "load: {worklaod:"))
    assert (e.line, e.field) == (12, "load.worklaod")
    assert "did you mean 'workload'" in e.message and "valid fields:" in e.message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("seed: 7", "sed: 7"))
    assert (e.line, e.field) == (4, "sed") and "did you mean 'seed'" in e.message


def test_unknown_fault_lists_known_ones(tmp_path: Path) -> None:
    e = one_error(
        tmp_path,
        GOOD.replace("fault: cut-region, region: beijing", "fault: cut-regoin, region: beijing"),
    )
    assert (e.line, e.field) == (14, "schedule.0.fault")
    assert "did you mean 'cut-region'" in e.message
    for name in FAULTS:
        assert name in e.message


def test_negative_duration(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("for: 30s", "for: -30s"))
    assert (e.line, e.field) == (14, "schedule.0.for") and "negative" in e.message


def test_duration_without_unit(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("duration: 60s", "duration: 60"))
    assert (
        (e.line, e.field) == (12, "load.duration") and "unit" in e.message and "500ms" in e.message
    )


def test_region_that_does_not_exist(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("region: beijing}", "region: bejing}"))
    assert (e.line, e.field) == (14, "schedule.0.region")
    assert "'bejing' does not exist" in e.message and "did you mean 'beijing'" in e.message
    assert "beijing, xian" in e.message


def test_unknown_region_in_checks_and_selectors(tmp_path: Path) -> None:
    text = GOOD.replace("rto: {region: xian", "rto: {region: xain").replace(
        "survivors: {region: xian}", "survivors: {region: shanghai}"
    )
    errs = errors_of(tmp_path, text)
    assert {(e.line, e.field) for e in errs} == {
        (23, "checks.rto.region"),
        (15, "schedule.1.survivors.region"),
    }


def test_unknown_location(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("{location: xian,", "{location: xain,"))
    assert (e.line, e.field) == (
        8,
        "topology.regions.xian.location",
    ) and "did you mean xian" in e.message


def test_unknown_node_and_zone(tmp_path: Path) -> None:
    text = GOOD.replace("target: random-node, for: 10s", "target: beijing-9, for: 10s").replace(
        "survivors: {region: xian}", "survivors: {zone: bj-dc3}"
    )
    errs = sorted(errors_of(tmp_path, text), key=lambda e: e.line)
    assert [(e.line, e.field) for e in errs] == [
        (15, "schedule.1.survivors.zone"),
        (18, "schedule.2.sequence.1.target"),
    ]
    assert "bj-dc1" in errs[0].message
    assert "random-node" in errs[1].message and "beijing-1" in errs[1].message


class RigidAdapter(SystemAdapter):
    """A system whose clock cannot be skewed (like one that reads a hardware clock)."""

    kind = "rigid"
    supports_clock_skew = False
    workloads = ("register",)

    def node_spec(self, node, ctx):  # pragma: no cover - never run
        raise NotImplementedError

    def wait_ready(self, ctx, nodes, deadline_s):  # pragma: no cover
        raise NotImplementedError

    def client(self, view, region, timeout_s):  # pragma: no cover
        raise NotImplementedError


def test_clock_skew_rejected_when_system_cannot_be_skewed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(
        systems.entries(),
        "rigid",
        systems.SystemEntry("rigid", f"{__name__}:RigidAdapter", "tests"),
    )
    text = GOOD.replace("system: {kind: geokv, mode: quorum}", "system: {kind: rigid}").replace(
        "fault: degrade-quorum, survivors: {region: xian}",
        "fault: clock-skew, target: xian-1, offset: -2s",
    )
    e = one_error(tmp_path, text)
    assert (e.line, e.field) == (15, "schedule.1.fault")
    assert "clock" in e.message and "'rigid'" in e.message


def test_clock_skew_accepted_on_geokv(tmp_path: Path) -> None:
    text = GOOD.replace(
        "fault: degrade-quorum, survivors: {region: xian}",
        "fault: clock-skew, target: {region: xian}, offset: -2s",
    )
    exp = load_experiment(write(tmp_path, text))
    assert exp.schedule[1].fault.params == {"target": {"region": "xian"}, "offset": -2.0}


def test_clock_skew_needs_offset_or_at(tmp_path: Path) -> None:
    text = GOOD.replace(
        "fault: degrade-quorum, survivors: {region: xian}", "fault: clock-skew, target: all"
    )
    e = one_error(tmp_path, text)
    assert e.line == 15 and "exactly one of offset, time" in e.message
    text = GOOD.replace(
        "fault: degrade-quorum, survivors: {region: xian}",
        "fault: clock-skew, target: all, time: 2027-01-01T00:00:00",
    )
    exp = load_experiment(write(tmp_path, text))
    assert exp.schedule[1].fault.params["time"] == "2027-01-01T00:00:00"
    # `at` is the start time of the entry; a date there gets pointed at `time`
    text = GOOD.replace(
        "{at: 20s, fault: degrade-quorum, survivors: {region: xian}}",
        "{fault: clock-skew, target: all, at: 2027-01-01T00:00:00}",
    )
    errs = errors_of(tmp_path, text)
    assert any(
        e.field == "schedule.1.at" and "time: 2027-01-01T00:00:00" in e.message for e in errs
    )


def test_unknown_system_kind_lists_known(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("kind: geokv", "kind: geokvv"))
    assert (e.line, e.field) == (11, "system.kind") and "geokv" in e.message and "etcd" in e.message


def test_geokv_rejects_bad_mode(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("mode: quorum", "mode: sloppy"))
    assert (e.line, e.field) == (11, "system.mode") and "valid: quorum, lww, unit" in e.message


def test_instant_fault_takes_no_for(tmp_path: Path) -> None:
    e = one_error(
        tmp_path,
        GOOD.replace(
            "fault: degrade-quorum, survivors: {region: xian}", "fault: restore-quorum, for: 5s"
        ),
    )
    assert (e.line, e.field) == (15, "schedule.1.for") and "no heal" in e.message


def test_required_param_and_enum_and_range(tmp_path: Path) -> None:
    text = GOOD.replace(
        "fault: degrade-quorum, survivors: {region: xian}",
        "fault: flaky, links: {between: [beijing, xian]}, kind: reset, probability: 1.5",
    ).replace("{fault: cut-region, region: random}", "{fault: latency, links: all}")
    errs = errors_of(tmp_path, text)
    msgs = {(e.line, e.field): e.message for e in errs}
    assert "reset_peer" in msgs[(15, "schedule.1.kind")]
    assert "from 0 to 1" in msgs[(15, "schedule.1.probability")]
    assert "needs `rtt`" in msgs[(19, "schedule.3.random.faults.1")]


def test_link_selector_names_are_checked(tmp_path: Path) -> None:
    text = GOOD.replace(
        "fault: degrade-quorum, survivors: {region: xian}",
        "fault: latency, links: {names: ['xian->beijing-1:http', 'xian->beijing-9:http']}, rtt: 300ms",
    )
    e = one_error(tmp_path, text)
    assert e.field == "schedule.1.links.names.1" and e.line == 15


def test_partition_and_bridge_shapes(tmp_path: Path) -> None:
    base = "topology: {regions: {a: {location: beijing, nodes: 1}, b: {location: xian, nodes: 1}, c: {location: shanghai, nodes: 1}}}\nschedule:\n"
    exp = load_experiment(
        write(
            tmp_path,
            base
            + "  - {fault: partition, groups: [[a]]}\n  - {fault: bridge, halves: [[a], [b]], bridge: c}\n",
        )
    )
    assert exp.schedule[0].fault.params["groups"] == [["a"]]
    errs = errors_of(
        tmp_path,
        base
        + "  - {fault: partition, groups: [[a, b], [b]]}\n  - {fault: bridge, halves: [[a], [b]], bridge: a}\n",
    )
    assert [(e.line, e.field) for e in errs] == [
        (3, "schedule.0.groups.1.0"),
        (4, "schedule.1.bridge"),
    ]


def test_top_level_wait_and_shapeless_entry(tmp_path: Path) -> None:
    errs = errors_of(
        tmp_path,
        GOOD.replace(
            "  - {at: 20s, fault: degrade-quorum, survivors: {region: xian}}",
            "  - {wait: 5s}\n  - {at: 3s}",
        ),
    )
    assert [(e.line, e.field) for e in errs] == [(15, "schedule.1.wait"), (16, "schedule.2")]


def test_fault_outlasting_load_is_a_warning(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, GOOD.replace("for: 30s", "for: 50s")))
    (w,) = exp.warnings
    assert (w.line, w.field, w.severity) == (
        14,
        "schedule.0.for",
        "warning",
    ) and "outlast" in w.message


def test_object_tags_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    e = one_error(tmp_path, f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    assert e.line == 1 and "python/object" in e.message
    assert not marker.exists()
    e = one_error(tmp_path, "name: !custom x\n")
    assert e.line == 1 and "tag '!custom' is not allowed" in e.message


def test_scalar_object_tags_are_refused_with_a_one_line_message(tmp_path: Path) -> None:
    # Regression: a scalar `!!python/object:...` passed the old deny-list and came
    # back as PyYAML's multi-line constructor error with "<unicode string>" in it.
    for tag in ("!!python/object:os.system", "!!python/name:os.system", "!!binary"):
        e = one_error(tmp_path, f"name: {tag} x\n")
        assert e.line == 1 and e.field == "name", e
        assert f"tag '{tag}' is not allowed" in e.message and "\n" not in e.message
        assert "strings, numbers, booleans, null" in e.message


def test_top_level_list_or_scalar_says_what_it_got(tmp_path: Path) -> None:
    assert one_error(tmp_path, "- a\n- b\n").message.endswith("not a list")
    assert one_error(tmp_path, "just words\n").message.endswith("not a string")


def test_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = GOOD.replace(
        "schedule:\n",
        "x-cut: &cut {fault: cut-region, region: beijing}\nschedule:\n  - {<<: *cut, at: 50s, for: 1s}\n",
    )
    exp = load_experiment(write(tmp_path, text))  # x-... keys hold anchors, merges work
    assert exp.schedule[0].fault.params["region"] == "beijing" and exp.schedule[0].at_s == 50.0
    assert exp.schedule[0].line == 15
    text = (
        text.replace("x-cut: &cut {fault: cut-region, region: beijing}\n", "")
        .replace(
            "{<<: *cut, at: 50s, for: 1s}",
            "{at: 50s, for: 1s, fault: cut-region, region: &r beijing}",
        )
        .replace("rto: {region: xian", "rto: {region: *r")
    )
    exp = load_experiment(write(tmp_path, text))
    assert exp.schedule[0].at_s == 50.0 and exp.checks.rto[0].region == "beijing"


def test_duplicate_key(tmp_path: Path) -> None:
    e = one_error(tmp_path, GOOD.replace("seed: 7", "seed: 7\nseed: 8"))
    assert e.line == 5 and "duplicate key 'seed' (first at line 4)" in e.message


def test_many_errors_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace("seed: 7", "seed: seven")
        .replace("keys: 8", "keys: 0")
        .replace("min: 0.5", "min: 2")
    )
    errs = errors_of(tmp_path, text)
    assert {e.field for e in errs} == {"seed", "load.keys", "checks.availability.0.min"}


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="file not found"):
        load_experiment(tmp_path / "nope.yaml")
    errs = errors_of(tmp_path, "")
    assert "empty" in errs[0].message


# ---- --set overrides ----


def test_set_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    exp = load_experiment(
        p,
        [
            "load.duration=10s",
            "schedule.0.for=5s",
            "seed=42",
            "topology.clients.xian=1",
            "system.mode=lww",
        ],
    )
    assert exp.load.duration_s == 10.0
    assert exp.schedule[0].for_s == 5.0
    assert exp.seed == 42 and exp.topology.clients["xian"] == 1
    assert exp.system.options["mode"] == "lww"
    assert exp.raw["load"]["duration"] == "10s" and exp.raw["schedule"][0]["for"] == "5s"
    # new fields and appended entries
    exp = load_experiment(
        p, ["checks.lost_writes.max_age=5s", "schedule.4={fault: pause, target: xian-1}"]
    )
    assert exp.checks.lost_writes.max_age_s == 5.0 and exp.schedule[4].fault.kind == "pause"


def test_set_override_errors_name_the_override(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    with pytest.raises(ExperimentError) as ei:
        load_experiment(p, ["schedule.0.for=-5s"])
    (e,) = ei.value.errors
    assert e.field == "schedule.0.for" and e.line == 14 and "--set schedule.0.for=-5s" in e.message
    with pytest.raises(ExperimentError, match="schedule has 4 entries"):
        load_experiment(p, ["schedule.9.for=5s"])
    with pytest.raises(ExperimentError, match="expected PATH=VALUE"):
        load_experiment(p, ["load.duration"])
    with pytest.raises(ExperimentError, match="did you mean 'duration'"):
        load_experiment(p, ["load.durration=5s"])


# ---- value forms ----


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("2m", 120),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("1m30s", 90),
        ("250us", 0.00025),
        ("0", 0),
        (0, 0),
    ],
)
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_signed_and_bad_durations() -> None:
    assert parse_duration("-2s", signed=True) == -2.0
    assert parse_duration("+500ms", signed=True) == 0.5
    for bad in ("30", 30, "3 0s", "s", "1.5x", "", True, None, "1m 30q"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_rates() -> None:
    assert parse_rate("200/s") == 200 and parse_rate(50) == 50 and parse_rate("600/m") == 10
    for bad in ("fast", 0, -1, "10/h", True):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_fault_table_is_complete() -> None:
    """The catalogue the faults room implements: names and key parameters are fixed."""
    expected = {
        "cut-region",
        "partition",
        "bridge",
        "one-way",
        "isolate-node",
        "latency",
        "bandwidth",
        "flaky",
        "kill",
        "stop",
        "start",
        "pause",
        "clock-skew",
        "clock-reset",
        "degrade-quorum",
        "restore-quorum",
        "cut-zone",
        "partition-nodes",
        "majorities-ring",
        "random-halves",
        "clock-drift",
        "clock-strobe",
        "clock-bump",
        "cpu-limit",
        "memory-limit",
        "cpu-hog",
        "io-hog",
        "disk-error",
        "slow-fsync",
        "disk-full",
        "congestion",
    }
    assert set(FAULTS) == expected
    assert FAULTS["cut-region"].param("mode").default == "blackhole"
    assert FAULTS["latency"].param("mode").choices == ("set", "add")
    assert FAULTS["clock-skew"].clock and FAULTS["restore-quorum"].instant
    yaml.safe_dump({k: [p.name for p in f.params] for k, f in FAULTS.items()})  # plain data


# (old text in GOOD, new text, line, field, fragment of the message)
FIELD_CASES = [
    ("name: two-cities", "name: two cities", 1, "name", "letters, digits"),
    ("backend: local", "backend: k8s", 3, "backend", "valid: local, docker"),
    ("seed: 7", "seed: 1.5", 4, "seed", "whole number"),
    (
        "    xian:    {location: xian,",
        "    Xian:    {location: xian,",
        8,
        "topology.regions.Xian",
        "lowercase",
    ),
    (
        "    xian:    {location: xian,",
        "    random:  {location: xian,",
        8,
        "topology.regions.random",
        "keyword",
    ),
    ("{xa-dc1: 1}", "{xa-dc1: -1}", 8, "topology.regions.xian.zones.xa-dc1", ">= 0"),
    (
        "{xa-dc1: 1}",
        "{bj-dc1: 1}",
        8,
        "topology.regions.xian.zones.bj-dc1",
        "already a zone of region 'beijing'",
    ),
    ("{xa-dc1: 1}}", "{xa-dc1: 1}, nodes: 2}", 8, "topology.regions.xian.nodes", "not both"),
    ("clients: {beijing: 8", "clients: {beijing: -8", 9, "topology.clients.beijing", ">= 0"),
    (
        "beijing-xian: {rtt",
        "beijing-tokyo: {rtt",
        10,
        "topology.latency.beijing-tokyo",
        "two different regions",
    ),
    ("rtt: 22ms", "rtt: fast", 10, "topology.latency.beijing-xian.rtt", "with a unit"),
    ("workload: register", "workload: queue", 12, "load.workload", "register, cas-register, set"),
    ("keys: 8", "keys: many", 12, "load.keys", "whole number >= 1"),
    (
        "rate: 200/s}",
        "rate: 200/s, rate_per_region: {xian: 5}}",
        12,
        "load.rate_per_region",
        "not both",
    ),
    ("rate: 200/s}", "rate: 200/s, read_ratio: 1.2}", 12, "load.read_ratio", "from 0 to 1"),
    (
        "rate: 200/s}",
        "rate: 200/s, final_reads: yes please}",
        12,
        "load.final_reads",
        "true or false",
    ),
    ("rate: 200/s}", "rate: 200/s, workers: -1}", 12, "load.workers", ">= 0"),
    ("rate: 200/s}", "rate: 200/s, timeout: 0s}", 12, "load.timeout", "> 0"),
    ("{region: xian}}", "{region: xian}, id: f1}", 15, "schedule.1.id", "already used"),
    (
        "sequence:\n      - {wait: 5s}\n      - {fault: kill, target: random-node, for: 10s}",
        "sequence: []",
        16,
        "schedule.2.sequence",
        "non-empty",
    ),
    ("{wait: 5s}", "{wait: 5s, for: 1s}", 17, "schedule.2.sequence.0.for", "valid fields: wait"),
    (
        "target: random-node, for: 10s}",
        "target: random-node, for: 10s, at: 1s}",
        18,
        "schedule.2.sequence.1.at",
        "not allowed here",
    ),
    ("start: 10s, stop: 50s", "start: 10s, stop: 5s", 19, "schedule.3.random.stop", "after start"),
    ("interval: 10s, ", "", 19, "schedule.3.random", "needs interval"),
    (
        "linearizable: true",
        "linearizable: {model: set}",
        21,
        "checks.linearizable.model",
        "does not fit workload",
    ),
    ("lost_writes: {max: 0}", "lost_writes: {max: -1}", 22, "checks.lost_writes.max", ">= 0"),
    ("rto: {region: xian, max: 10s}", "rto: {region: xian}", 23, "checks.rto", "needs max"),
    (
        "phase: during, min: 0.5",
        "phase: middle, min: 0.5",
        24,
        "checks.availability.0.phase",
        "before, during, after, all",
    ),
    ("phase: after, p99: 500ms", "phase: after", 25, "checks.latency", "at least one bound"),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "fragment"), FIELD_CASES, ids=[c[3] for c in FIELD_CASES]
)
def test_field_errors_name_line_and_field(tmp_path: Path, old, new, line, field, fragment) -> None:
    assert old in GOOD
    errs = errors_of(tmp_path, GOOD.replace(old, new, 1))
    hits = [e for e in errs if e.field == field]
    assert hits, "\n".join(map(str, errs))
    assert hits[0].line == line and fragment in hits[0].message, str(hits[0])


def test_links_section(tmp_path: Path) -> None:
    exp = load_experiment(
        write(tmp_path, GOOD + "links: {server: toxiproxy, url: 'http://127.0.0.1:8474'}\n")
    )
    assert exp.links.server == "toxiproxy" and exp.links.url == "http://127.0.0.1:8474"
    e = one_error(tmp_path, GOOD + "links: {server: toxiproxy}\n")
    assert (e.line, e.field) == (26, "links") and "url" in e.message
    e = one_error(tmp_path, GOOD + "links: {server: envoy}\n")
    assert e.field == "links.server" and "builtin, toxiproxy" in e.message


def test_etcd_rejects_clock_skew_and_local_backend(tmp_path: Path) -> None:
    """The real etcd adapter: its clock cannot be skewed, and it needs the docker backend."""
    text = GOOD.replace("system: {kind: geokv, mode: quorum}", "system: {kind: etcd}").replace(
        "fault: degrade-quorum, survivors: {region: xian}",
        "fault: clock-skew, target: all, offset: 1s",
    )
    errs = errors_of(tmp_path, text)
    fields = {e.field: e for e in errs}
    assert (
        fields["schedule.1.fault"].line == 15
        and "'etcd' cannot" in fields["schedule.1.fault"].message
    )
    assert any("docker" in e.message for e in errs)  # backend: local cannot run etcd
    exp = load_experiment(
        write(
            tmp_path,
            GOOD.replace("kind: geokv, mode: quorum", "kind: etcd").replace(
                "backend: local", "backend: docker"
            ),
        )
    )
    assert exp.system.kind == "etcd" and exp.system.options == {}


def test_bad_indentation_inside_schedule_list(tmp_path: Path) -> None:
    text = GOOD.replace(
        "      - {fault: kill, target: random-node, for: 10s}",
        "      - fault: kill\n       target: random-node",
    )
    e = one_error(tmp_path, text)
    assert e.line == 19 and "indentation" in e.message
