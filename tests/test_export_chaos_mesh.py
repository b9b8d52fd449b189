"""`chaoskit export chaos-mesh`: every shipped experiment exports (or is refused with a
named reason), the manifests validate against the Chaos Mesh v2.6 and Kubernetes
schemas, and the schemas catch broken manifests."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from chaoskit.experiment import load_experiment, load_experiment_text
from chaoskit.export.chaos_mesh import (
    NODE_LABEL,
    REGION_LABEL,
    ChaosMeshOptions,
    ExportError,
    UnsupportedFault,
    export_chaos_mesh,
)
from chaoskit.export.events import complete_run
from chaoskit.export.locust_master import prepare
from chaoskit.export.timeline import flatten
from chaoskit.export.validate import load_crds, validate_crds, validate_manifests
from chaoskit.load.plan import LoadPlan

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
PORTS = {"geokv": {"http": 8080}, "etcd": {"client": 2379, "peer": 2380}}
# shipped experiment -> the fault kind that has no Chaos Mesh equivalent
REFUSED = {
    "etcd-two-cities-degrade": "degrade-quorum",
    "two-cities-three-centres": "degrade-quorum",
    "zone-lost": "cut-zone",  # mode refuse: a partition only drops packets
    "deep-nemesis": "one-way",  # node-level one-way in its sequence
    "lww-clock-drift": "clock-drift",  # a clock rate: no mapping
    "postgres-fsync-eio": "disk-error",
}


def options(kind: str) -> ChaosMeshOptions:
    """Container ports of the system's named ports: known numbers for the built-in kinds,
    consecutive stand-ins for any other kind (the export only names them)."""
    from chaoskit.systems import get_adapter

    ports = PORTS.get(kind) or {n: 7000 + i for i, n in enumerate(get_adapter(kind).ports)}
    return ChaosMeshOptions(selector={"app": "sut"}, ports=ports)


def exported(text: str):
    exp = load_experiment_text(text)
    return export_chaos_mesh(exp, options(exp.system.kind))


BASE = """
name: t
backend: local
seed: 4
topology:
  regions:
    a: {location: beijing, zones: {a1: 1, a2: 1}}
    b: {location: shanghai, zones: {b1: 1}}
    c: {location: xian, zones: {c1: 2}}
system: {kind: geokv, mode: quorum}
load: {duration: 30s}
"""


def with_schedule(*entries: str) -> str:
    return BASE + "schedule:\n" + "".join(f"  - {e}\n" for e in entries)


def workflow_chaos(export) -> list[dict]:
    wf = export.manifests["workflow.yaml"][0]
    return [t for t in wf["spec"]["templates"] if t["templateType"].endswith("Chaos")]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_shipped_experiment_exports_or_is_refused_by_name(path: Path) -> None:
    exp = load_experiment(path)
    if path.stem in REFUSED:
        with pytest.raises(UnsupportedFault) as e:
            export_chaos_mesh(exp, options(exp.system.kind))
        assert e.value.kind == REFUSED[path.stem]
        assert REFUSED[path.stem] in str(e.value) and str(path) in str(e.value)
        return
    out = export_chaos_mesh(exp, options(exp.system.kind))
    assert validate_manifests(out.objects()) == []
    kinds = [d["kind"] for d in out.objects()]
    assert kinds.count("Workflow") == (1 if exp.all_faults() else 0)  # no fault: no schedule
    assert kinds.count("Service") == len(exp.topology.nodes) + 1  # nodes + locust master
    n = len(exp.topology.regions)
    zone_pairs = sum(len(r.zones) * (len(r.zones) - 1) // 2 for r in exp.topology.regions)
    # one delay per region pair and per pair of zones of a region
    assert kinds.count("NetworkChaos") == n * (n - 1) // 2 + zone_pairs
    if exp.all_faults():
        assert len(workflow_chaos(out)) >= len(exp.all_faults())


def test_latency_matrix_is_half_the_rtt_each_way() -> None:
    exp = load_experiment(ROOT / "experiments/etcd-three-regions.yaml")
    out = export_chaos_mesh(exp, options("etcd"))
    for obj in out.manifests["latency.yaml"]:
        spec = obj["spec"]
        src, dst = spec["selector"]["labelSelectors"], spec["target"]["selector"]["labelSelectors"]
        if REGION_LABEL in src:
            rtt = exp.topology.rtt(src[REGION_LABEL], dst[REGION_LABEL])
        else:  # two data centres of one region
            rtt = exp.topology.zone_rtt(src["chaoskit.io/zone"], dst["chaoskit.io/zone"])
        assert spec["direction"] == "both" and spec["action"] == "delay"
        assert spec["delay"]["latency"] == f"{round(rtt.rtt_ms * 500)}us"
        assert spec["selector"]["labelSelectors"]["app"] == "sut"


def test_cut_region_is_a_partition_from_every_other_region() -> None:
    out = exported(with_schedule("{at: 5s, for: 7s, fault: cut-region, region: b}"))
    (tpl,) = workflow_chaos(out)
    spec = tpl["networkChaos"]
    assert tpl["deadline"] == "7000ms" and spec["action"] == "partition"
    assert spec["selector"]["labelSelectors"][REGION_LABEL] == "b"
    assert spec["target"]["selector"]["expressionSelectors"] == [
        {"key": REGION_LABEL, "operator": "NotIn", "values": ["b"]}
    ]
    wait = [
        t
        for t in out.manifests["workflow.yaml"][0]["spec"]["templates"]
        if t["templateType"] == "Suspend"
    ]
    assert [w["deadline"] for w in wait] == ["5000ms"]


def test_partition_pairs_every_group_including_the_unnamed_rest() -> None:
    out = exported(with_schedule("{at: 1s, for: 2s, fault: partition, groups: [[a]]}"))
    (tpl,) = workflow_chaos(out)  # a | (b, c)
    assert tpl["networkChaos"]["target"]["selector"]["expressionSelectors"][0]["values"] == [
        "b",
        "c",
    ]
    out = exported(with_schedule("{at: 1s, for: 2s, fault: partition, groups: [[a], [b]]}"))
    assert len(workflow_chaos(out)) == 3  # a|b, a|c, b|c: a Parallel of three
    assert validate_manifests(out.objects()) == []


def test_random_targets_are_drawn_like_a_chaoskit_run() -> None:
    import random

    from chaoskit.faults.selectors import select_nodes

    text = with_schedule("{at: 1s, for: 2s, fault: kill, target: {random: 2, of: all}}")
    exp = load_experiment_text(text)
    out = export_chaos_mesh(exp, options("geokv"))
    (tpl,) = workflow_chaos(out)
    assert tpl["podChaos"]["action"] == "pod-failure"
    chosen = tpl["podChaos"]["selector"]["expressionSelectors"][0]["values"]
    ctx = type(
        "C", (), {"node_names": [n.name for n in exp.topology.nodes], "topology": exp.topology}
    )
    again = select_nodes(ctx, {"random": 2, "of": "all"}, random.Random(f"{exp.seed}:f1"))
    assert chosen == again and len(chosen) == 2
    # one node: selected by its node label
    out = exported(with_schedule("{at: 1s, for: 2s, fault: kill, target: c-2}"))
    assert workflow_chaos(out)[0]["podChaos"]["selector"]["labelSelectors"][NODE_LABEL] == "c-2"


def test_latency_fault_adds_to_the_base_and_cannot_lower_it() -> None:
    exp = load_experiment_text(
        with_schedule(
            "{at: 1s, for: 2s, fault: latency, links: {between: [a, b]}, rtt: 100ms, mode: add}"
        )
    )
    (tpl,) = workflow_chaos(export_chaos_mesh(exp, options("geokv")))
    base = exp.topology.rtt("a", "b").rtt_ms
    assert tpl["networkChaos"]["delay"]["latency"] == f"{round((base + 100) * 500)}us"
    with pytest.raises(UnsupportedFault, match="lowers the RTT"):
        exported(with_schedule("{at: 1s, for: 2s, fault: latency, links: all, rtt: 1ms}"))


def test_zone_and_node_partitions_draw_like_a_chaoskit_run() -> None:
    import random

    from chaoskit.faults.domains import majorities_ring_pairs

    (tpl,) = workflow_chaos(exported(with_schedule("{at: 1s, for: 2s, fault: cut-zone, zone: a2}")))
    spec = tpl["networkChaos"]
    assert spec["selector"]["labelSelectors"]["chaoskit.io/zone"] == "a2"
    assert spec["target"]["selector"]["expressionSelectors"][0]["operator"] == "NotIn"
    exp = load_experiment_text(with_schedule("{at: 1s, for: 2s, fault: majorities-ring}"))
    chaos = workflow_chaos(export_chaos_mesh(exp, options("geokv")))
    nodes = [n.name for n in exp.topology.nodes]
    random.Random(f"{exp.seed}:f1").shuffle(nodes)

    def node_of(sel: dict) -> str:
        (name,) = selected(exp, sel)
        return name

    cut = {
        frozenset(
            (
                node_of(t["networkChaos"]["selector"]),
                node_of(t["networkChaos"]["target"]["selector"]),
            )
        )
        for t in chaos
    }
    assert cut == majorities_ring_pairs(nodes) and len(cut) == 5
    text = with_schedule("{at: 1s, for: 2s, fault: partition-nodes, groups: [[a-1, b-1]]}")
    assert len(workflow_chaos(exported(text))) == 1  # {a-1, b-1} | the rest
    assert (
        len(workflow_chaos(exported(with_schedule("{at: 1s, for: 2s, fault: random-halves}")))) == 1
    )


def selected(exp, sel: dict) -> set[str]:
    """The topology's nodes a Chaos Mesh selector (as the exporter writes them) picks."""
    labels = sel["labelSelectors"]
    out = {n.name for n in exp.topology.nodes}
    for key, attr in ((NODE_LABEL, "name"), (REGION_LABEL, "region"), ("chaoskit.io/zone", "zone")):
        if key in labels:
            out &= {n.name for n in exp.topology.nodes if getattr(n, attr) == labels[key]}
    for expr in sel.get("expressionSelectors", []):
        attr = {NODE_LABEL: "name", REGION_LABEL: "region", "chaoskit.io/zone": "zone"}[expr["key"]]
        keep = {n.name for n in exp.topology.nodes if getattr(n, attr) in expr["values"]}
        out = out & keep if expr["operator"] == "In" else out - keep
    return out


def test_clock_skew_is_a_time_chaos() -> None:
    text = with_schedule("{at: 1s, for: 2s, fault: clock-skew, target: a-1, offset: -3s}")
    text = text.replace("mode: quorum", "mode: lww")
    (tpl,) = workflow_chaos(exported(text))
    assert tpl["timeChaos"]["timeOffset"] == "-3000ms"


@pytest.mark.parametrize(
    "entry, kind, words",
    [
        ("{at: 1s, for: 2s, fault: pause, target: a-1}", "pause", "SIGSTOP"),
        ("{at: 1s, for: 2s, fault: one-way, from: a, to: b}", "one-way", "TCP both ways"),
        ("{at: 1s, for: 2s, fault: flaky, links: all, kind: reset_peer}", "flaky", "packets"),
        ("{at: 1s, fault: start, target: a-1}", "start", "restarts"),
        (
            "{at: 1s, for: 2s, fault: cut-region, region: a, mode: refuse}",
            "cut-region",
            "blackhole",
        ),
        ("{at: 1s, for: 2s, fault: kill, target: leader}", "kill", "role"),
        (
            "{at: 1s, for: 2s, fault: degrade-quorum, survivors: {region: a}}",
            "degrade-quorum",
            "membership",
        ),
    ],
)
def test_faults_without_equivalent_are_refused_by_name(entry: str, kind: str, words: str) -> None:
    with pytest.raises(UnsupportedFault) as e:
        exported(with_schedule(entry))
    assert e.value.kind == kind and e.value.fault_id == "f1"
    assert words in str(e.value) and f"({kind})" in str(e.value)


def test_sequences_and_random_nemesis_become_fixed_steps() -> None:
    exp = load_experiment_text(
        with_schedule(
            "sequence: [{wait: 2s}, {fault: kill, target: a-1, for: 3s}, {fault: kill, target: b-1, for: 1s}]",
            "random: {faults: [{fault: cut-region, region: random}], interval: 5s, for: 2s, start: 10s, stop: 21s}",
        )
    )
    steps = flatten(exp)
    assert [(s.fault_id, s.start_s, s.length_s) for s in steps] == [
        ("f1", 2.0, 3.0),
        ("f2", 5.0, 1.0),
        ("f3#0", 10.0, 2.0),
        ("f3#1", 15.0, 2.0),
        ("f3#2", 20.0, 2.0),
    ]
    out = export_chaos_mesh(exp, options("geokv"))
    assert validate_manifests(out.objects()) == []


def test_the_load_plan_reaches_every_node_through_its_service() -> None:
    exp = load_experiment(ROOT / "experiments/etcd-three-regions.yaml")
    out = export_chaos_mesh(exp, options("etcd"))
    (cm,) = [d for d in out.manifests["locust.yaml"] if d["kind"] == "ConfigMap"]
    plan = LoadPlan.from_dict(json.loads(cm["data"]["load-plan.json"]))
    plan.validate()
    assert (
        plan.views["eu-west"]["us-east-1"]["client"]
        == "etcd-three-regions-us-east-1.default.svc:2379"
    )
    assert plan.remote_workers == 3 and plan.master_bind_host == "*"
    workers = [d for d in out.manifests["locust.yaml"] if d["kind"] == "Deployment"]
    assert sorted(w["spec"]["template"]["metadata"]["labels"][REGION_LABEL] for w in workers) == [
        "ap-northeast",
        "eu-west",
        "us-east",
    ]


def test_schema_catches_broken_manifests() -> None:
    """Known-bad objects the built-in schemas must refuse (each a mistake an exporter can make)."""
    out = export_chaos_mesh(load_experiment(ROOT / "experiments/smoke.yaml"), options("geokv"))
    delay = out.manifests["latency.yaml"][0]
    wf = out.manifests["workflow.yaml"][0]
    svc = out.manifests["topology.yaml"][0]
    breakages = [
        (delay, lambda d: d["spec"].__setitem__("mode", "every"), "mode"),
        (delay, lambda d: d["spec"]["delay"].__setitem__("latency", "69 ms"), "latency"),
        (delay, lambda d: d["spec"]["delay"].pop("latency"), "latency"),
        (delay, lambda d: d["spec"].pop("delay"), "delay"),
        (delay, lambda d: d["spec"].__setitem__("direction", "sideways"), "direction"),
        (delay, lambda d: d["spec"]["selector"].__setitem__("labelSelector", {}), "labelSelector"),
        (wf, lambda d: d["spec"]["templates"][0].pop("children"), "children"),
        (
            wf,
            lambda d: d["spec"]["templates"][1].__setitem__("templateType", "NetChaos"),
            "NetChaos",
        ),
        (wf, lambda d: d["spec"]["templates"][0].__setitem__("name", "Schedule_1"), "Schedule_1"),
        (svc, lambda d: d["spec"]["ports"][0].__setitem__("port", 70000), "70000"),
        (svc, lambda d: d["metadata"]["labels"].__setitem__("bad label", "x"), "bad label"),
    ]
    for doc, breaking, word in breakages:
        broken = copy.deepcopy(doc)
        breaking(broken)
        problems = validate_manifests([broken])
        assert problems, f"schema accepted a broken {doc['kind']} ({word})"


def test_published_crd_validation_path(tmp_path: Path) -> None:
    """The --crds / CHAOSKIT_CHAOS_MESH_CRDS path, on a small CRD written here."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "chaos-mesh.org",
            "names": {"kind": "NetworkChaos"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["action"],
                                    "properties": {"action": {"type": "string", "enum": ["delay"]}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(crd))
    crds = load_crds([tmp_path])
    out = export_chaos_mesh(load_experiment(ROOT / "experiments/smoke.yaml"), options("geokv"))
    assert validate_crds(out.manifests["latency.yaml"], crds) == []
    partition = workflow_chaos(out)[0]["networkChaos"]
    obj = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos", "spec": partition}
    assert any("partition" in p for p in validate_crds([obj], crds))
    assert any(
        "no chaos-mesh.org/v1alpha1 Workflow" in p
        for p in validate_crds(out.manifests["workflow.yaml"], crds)
    )


@pytest.mark.skipif(
    not os.environ.get("CHAOSKIT_CHAOS_MESH_CRDS"),
    reason="set CHAOSKIT_CHAOS_MESH_CRDS to Chaos Mesh's published CRD file(s) to run",
)
@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_shipped_exports_validate_against_published_crds(path: Path) -> None:
    exp = load_experiment(path)
    if path.stem in REFUSED:
        pytest.skip(f"refused: {REFUSED[path.stem]}")
    out = export_chaos_mesh(exp, options(exp.system.kind))
    paths = [Path(p) for p in os.environ["CHAOSKIT_CHAOS_MESH_CRDS"].split(":") if p]
    assert validate_manifests(out.objects(), paths) == []


def test_master_prepares_the_time_base_and_events_place_the_faults(tmp_path: Path) -> None:
    exp = load_experiment(ROOT / "experiments/smoke.yaml")
    out = export_chaos_mesh(exp, options("geokv"))
    (cm,) = [d for d in out.manifests["locust.yaml"] if d["kind"] == "ConfigMap"]
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    for name, text in cm["data"].items():
        (plan_dir / name).write_text(text)
    run = tmp_path / "results"
    run_plan, events = prepare(plan_dir / "load-plan.json", run)
    events.emit("load-start")
    events.close()
    plan = LoadPlan.read(run_plan)
    clock = json.loads((run / "clock.json").read_text())
    assert plan.t0_ns == clock["t0_ns"] > 0 and str(plan.out_dir) == str(run)
    assert (run / "experiment.yaml").exists() and (run / "schedule.json").exists()
    start = datetime.fromtimestamp(clock["wall_ns"] / 1e9 + 2.0, tz=UTC)  # workflow 2 s later
    assert complete_run(run, start) == 2
    evs = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    apply = next(e for e in evs if e["event"] == "apply")
    heal = next(e for e in evs if e["event"] == "heal")
    assert abs(apply["time"] - 7e9) < 1e6  # 2 s + the cut's at: 5s
    assert abs(heal["time"] - apply["time"] - 6e9) < 1e6
    assert evs[-1]["event"] == "run-end" and not (run / "INCOMPLETE").exists()


def test_cli_writes_files_and_refuses_with_exit_2(tmp_path: Path) -> None:
    exe = [str(Path(sys.executable).parent / "chaoskit")]
    ok = subprocess.run(
        [*exe, "export", "chaos-mesh", str(ROOT / "experiments/smoke.yaml"), "-o", str(tmp_path / "o"),
         "--selector", "app=geokv", "--port", "http=8080"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == [
        "label-pods.sh",
        "latency.yaml",
        "locust.yaml",
        "topology.yaml",
        "workflow.yaml",
    ]
    bad = subprocess.run(
        [*exe, "export", "chaos-mesh", str(ROOT / "experiments/two-cities-three-centres.yaml"),
         "-o", str(tmp_path / "x"), "--selector", "app=geokv", "--port", "http=8080"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "f3 (degrade-quorum)" in bad.stderr
    assert "two-cities-three-centres.yaml:" in bad.stderr and not (tmp_path / "x").exists()
    noport = subprocess.run(
        [*exe, "export", "chaos-mesh", str(ROOT / "experiments/etcd-three-regions.yaml"),
         "--selector", "app=etcd", "--port", "client=2379"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert noport.returncode == 2 and "missing: peer" in noport.stderr


def test_unknown_port_and_empty_selector_are_errors() -> None:
    exp = load_experiment(ROOT / "experiments/smoke.yaml")
    with pytest.raises(ExportError, match="no port 'client'"):
        export_chaos_mesh(
            exp, ChaosMeshOptions(selector={"a": "b"}, ports={"http": 1, "client": 2})
        )
    with pytest.raises(ExportError, match="--selector"):
        export_chaos_mesh(exp, ChaosMeshOptions(selector={}, ports={"http": 1}))


def test_a_fault_without_a_mapping_names_the_faults_that_export() -> None:
    exp = load_experiment_text(
        with_schedule("{at: 1s, for: 2s, fault: clock-drift, target: random-node, rate: 2}"),
        name="exp.yaml",
    )
    with pytest.raises(UnsupportedFault) as e:
        export_chaos_mesh(exp, options(exp.system.kind))
    assert "clock-drift" in str(e.value) and "faults that export: bandwidth, bridge" in str(e.value)
