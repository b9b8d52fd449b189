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
    TEMPLATE_KEYS,
    ChaosMeshOptions,
    ExportError,
    UnsupportedFault,
    export_chaos_mesh,
    fine,
)
from chaoskit.export.events import complete_run
from chaoskit.export.locust_master import prepare
from chaoskit.export.timeline import flatten
from chaoskit.export.validate import load_crds, validate_crds, validate_manifests
from chaoskit.load.plan import LoadPlan

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
PORTS = {"geokv": {"http": 8080}, "etcd": {"client": 2379, "peer": 2380}}
# shipped experiment -> (the fault kind that has no Chaos Mesh equivalent, words of the reason)
REFUSED = {
    "etcd-two-cities-degrade": ("degrade-quorum", "membership"),
    "two-cities-three-centres": ("degrade-quorum", "membership"),
    "zone-lost": ("cut-zone", "blackhole"),  # mode refuse: a partition only drops packets
    "deep-nemesis": ("one-way", "TCP both ways"),  # node-level one-way in its sequence
    "lww-clock-drift": ("clock-drift", "has no rate"),
    "postgres-fsync-eio": ("disk-error", "role"),  # targets `primary`, a role
}
DATA_PATH = "/var/lib/sut"


def options(kind: str) -> ChaosMeshOptions:
    """Container ports of the system's named ports: known numbers for the built-in kinds,
    consecutive stand-ins for any other kind (the export only names them)."""
    from chaoskit.systems import get_adapter

    ports = PORTS.get(kind) or {n: 7000 + i for i, n in enumerate(get_adapter(kind).ports)}
    return ChaosMeshOptions(selector={"app": "sut"}, ports=ports, data_path=DATA_PATH)


def exported(text: str, **changes):
    exp = load_experiment_text(text)
    opts = options(exp.system.kind)
    for key, value in changes.items():
        setattr(opts, key, value)
    return export_chaos_mesh(exp, opts)


BASE = """
name: t
backend: docker
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
        kind, words = REFUSED[path.stem]
        assert e.value.kind == kind and f"({kind})" in str(e.value)
        assert words in str(e.value) and str(path) in str(e.value)
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
        pytest.skip(f"refused: {REFUSED[path.stem][0]}")
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
    disk = tmp_path / "disk.yaml"
    disk.write_text(with_schedule("{at: 1s, for: 2s, fault: slow-fsync, target: a-1, delay: 5ms}"))
    args = [*exe, "export", "chaos-mesh", str(disk), "-o", str(tmp_path / "d"),
            "--selector", "app=geokv", "--port", "http=8080"]  # fmt: skip
    nodata = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert nodata.returncode == 2 and "f1 (slow-fsync) needs --data-path" in nodata.stderr
    assert f"{disk}:" in nodata.stderr and not (tmp_path / "d").exists()
    withdata = subprocess.run(
        [*args, "--data-path", "/data"], capture_output=True, text=True, timeout=60
    )
    assert withdata.returncode == 0, withdata.stderr
    assert "volumePath: /data" in (tmp_path / "d" / "workflow.yaml").read_text()


def test_unknown_port_and_empty_selector_are_errors() -> None:
    exp = load_experiment(ROOT / "experiments/smoke.yaml")
    with pytest.raises(ExportError, match="no port 'client'"):
        export_chaos_mesh(
            exp, ChaosMeshOptions(selector={"a": "b"}, ports={"http": 1, "client": 2})
        )
    with pytest.raises(ExportError, match="--selector"):
        export_chaos_mesh(exp, ChaosMeshOptions(selector={}, ports={"http": 1}))


def test_every_catalogued_fault_is_mapped_or_refused_with_a_reason() -> None:
    """A fault added to the catalogue without a decision here fails this test."""
    from chaoskit.export.chaos_mesh import MAPPERS
    from chaoskit.export.chaos_mesh import REFUSED as REASONS
    from chaoskit.faults.catalogue import fault_names

    assert [n for n in fault_names() if n not in MAPPERS and n not in REASONS] == []
    assert not set(MAPPERS) & set(REASONS)


def test_a_fault_without_a_mapping_names_the_faults_that_export(monkeypatch) -> None:
    from chaoskit.export.chaos_mesh import MAPPERS

    monkeypatch.delitem(MAPPERS, "cpu-hog")  # as a plugin's fault kind would be
    exp = load_experiment_text(
        with_schedule("{at: 1s, for: 2s, fault: cpu-hog, target: a-1}"), name="exp.yaml"
    )
    with pytest.raises(UnsupportedFault) as e:
        export_chaos_mesh(exp, options(exp.system.kind))
    assert "(cpu-hog)" in str(e.value) and "faults that export: bandwidth, bridge" in str(e.value)


# -- resource, disk and clock-motion faults -------------------------------------------


def test_cpu_hog_is_a_stress_chaos_cpu_stressor() -> None:
    out = exported(with_schedule("{at: 1s, for: 2s, fault: cpu-hog, target: c-1, workers: 3}"))
    (tpl,) = workflow_chaos(out)
    cpu = tpl["stressChaos"]
    assert cpu["stressors"] == {"cpu": {"workers": 3, "load": 100}}
    assert cpu["selector"]["labelSelectors"][NODE_LABEL] == "c-1"
    assert validate_manifests(out.objects()) == []


@pytest.mark.parametrize(
    "entry, errno, methods, percent",
    [
        ("{fault: disk-error, target: a-1}", 5, ["fsync"], 100),
        ("{fault: disk-error, target: a-1, op: write, probability: 0.25}", 5, ["write"], 25),
        ("{fault: disk-error, target: a-1, op: both, errno: EROFS}", 30, ["write", "fsync"], 100),
        ("{fault: disk-full, target: a-1}", 28, ["write", "fsync"], 100),
    ],
)
def test_disk_errors_are_io_chaos_faults_on_the_data_path(entry, errno, methods, percent) -> None:
    out = exported(with_schedule(entry.replace("{", "{at: 1s, for: 2s, ", 1)))
    (tpl,) = workflow_chaos(out)
    spec = tpl["ioChaos"]
    assert spec["action"] == "fault" and spec["errno"] == errno
    assert spec["methods"] == methods and spec["percent"] == percent
    assert spec["volumePath"] == DATA_PATH and spec["duration"] == "2000ms"
    assert validate_manifests(out.objects()) == []


def test_slow_fsync_is_io_chaos_latency() -> None:
    out = exported(with_schedule("{at: 1s, for: 2s, fault: slow-fsync, target: b-1, delay: 150ms}"))
    (tpl,) = workflow_chaos(out)
    assert tpl["ioChaos"]["action"] == "latency" and tpl["ioChaos"]["delay"] == "150ms"
    assert tpl["ioChaos"]["methods"] == ["fsync"]
    assert validate_manifests(out.objects()) == []


@pytest.mark.parametrize("kind", ["disk-error", "slow-fsync", "disk-full"])
def test_disk_faults_need_the_data_path(kind: str) -> None:
    extra = ", delay: 10ms" if kind == "slow-fsync" else ""
    with pytest.raises(UnsupportedFault) as e:
        exported(
            with_schedule(f"{{at: 1s, for: 2s, fault: {kind}, target: a-1{extra}}}"),
            data_path=None,
        )
    assert e.value.kind == kind and f"({kind}) needs --data-path: IOChaos" in str(e.value)
    with pytest.raises(ExportError, match="absolute path"):
        exported(with_schedule("{at: 1s, for: 2s, fault: cpu-hog, target: a-1}"), data_path="x")


@pytest.mark.parametrize(
    "entry, kind, words",
    [
        ("{at: 1s, for: 2s, fault: cpu-limit, target: a-1, cpus: 0.5}", "cpu-limit", "limits"),
        (
            "{at: 1s, for: 2s, fault: memory-limit, target: a-1, memory_mb: 64}",
            "memory-limit",
            "OOM",
        ),
        ("{at: 1s, for: 2s, fault: clock-drift, target: a-1, rate: 2}", "clock-drift", "rate"),
        ("{at: 1s, for: 2s, fault: io-hog, target: a-1, workers: 2}", "io-hog", "dropped"),
        (
            "{at: 1s, for: 2s, fault: congestion, links: all, rtt: 50ms, loss: 0.1, period: 2s}",
            "congestion",
            "loss: 0",
        ),
        (
            "{at: 1s, for: 60s, fault: clock-strobe, target: a-1, low: 0s, high: 1s, period: 100ms}",
            "clock-strobe",
            "1200 workflow steps",
        ),
    ],
)
def test_resource_and_clock_faults_without_equivalent_are_refused(entry, kind, words) -> None:
    text = with_schedule(entry).replace("mode: quorum", "mode: lww")
    with pytest.raises(UnsupportedFault) as e:
        exported(text)
    assert e.value.kind == kind and words in str(e.value)


def test_clock_bump_gives_each_target_the_offset_a_run_draws() -> None:
    import random

    text = with_schedule("{at: 1s, for: 2s, fault: clock-bump, target: all, max: 2s}")
    exp = load_experiment_text(text.replace("mode: quorum", "mode: lww"))
    out = export_chaos_mesh(exp, options("geokv"))
    rng = random.Random(f"{exp.seed}:f1")  # what FaultContext.rng_for gives the run
    want = [round(rng.uniform(-2000, 2000), 3) for _ in exp.topology.nodes]
    chaos = [t["timeChaos"] for t in workflow_chaos(out)]  # one per node, in topology order
    assert [c["timeOffset"] for c in chaos] == [fine(ms) for ms in want]
    assert len({c["timeOffset"] for c in chaos}) == len(chaos)  # each node its own offset
    assert chaos[-1]["selector"]["labelSelectors"][NODE_LABEL] == "c-2"
    assert validate_manifests(out.objects()) == []


def _phases(out) -> list[dict]:
    templates = {t["name"]: t for t in out.manifests["workflow.yaml"][0]["spec"]["templates"]}
    (serial,) = [t for n, t in templates.items() if n.endswith("-phases")]
    return [templates[c] for c in serial["children"]]


def test_clock_strobe_alternates_time_chaos_steps() -> None:
    text = with_schedule(
        "{at: 1s, for: 5s, fault: clock-strobe, target: a-1, low: 0s, high: 800ms, period: 2s}"
    )
    out = exported(text.replace("mode: quorum", "mode: lww"))
    steps = _phases(out)
    assert [s["templateType"] for s in steps] == [
        "TimeChaos",
        "Suspend",
        "TimeChaos",
        "Suspend",
        "TimeChaos",
    ]  # high first, low (no offset) next, every half period
    assert [s["deadline"] for s in steps] == ["1000ms"] * 4 + ["1000ms"]
    assert steps[0]["timeChaos"]["timeOffset"] == "800ms"
    assert validate_manifests(out.objects()) == []


def test_congestion_is_a_staircase_of_delays_over_the_base() -> None:
    exp = load_experiment_text(
        with_schedule(
            "{at: 1s, for: 4s, fault: congestion, links: {between: [a, b]}, rtt: 100ms, "
            "jitter: 20ms, period: 4s}"
        )
    )
    out = export_chaos_mesh(exp, options("geokv"))
    steps = _phases(out)
    assert len(steps) == 8 and all(s["deadline"] == "500ms" for s in steps)
    base = exp.topology.rtt("a", "b")
    added = [
        int(s["networkChaos"]["delay"]["latency"][:-2]) / 500 - base.rtt_ms for s in steps
    ]  # RTT added at each phase's middle: rises to the peak at half the period, falls back
    assert added == sorted(added[:4]) + sorted(added[4:], reverse=True)
    assert added == pytest.approx(added[::-1]) and 0 < added[0] < 10 and 90 < added[3] <= 100
    assert validate_manifests(out.objects()) == []


def test_schema_catches_broken_stress_io_and_time_chaos() -> None:
    """Known-bad specs of the kinds the resource, disk and clock faults export to."""
    text = with_schedule(
        "{at: 1s, for: 2s, fault: cpu-hog, target: a-1}",
        "{at: 1s, for: 2s, fault: disk-error, target: a-1}",
        "{at: 1s, for: 2s, fault: clock-bump, target: a-1, max: 1s}",
    )
    out = exported(text.replace("mode: quorum", "mode: lww"))
    wf = out.manifests["workflow.yaml"][0]
    idx = {t["templateType"]: i for i, t in enumerate(wf["spec"]["templates"])}

    def spec(kind: str):
        key = TEMPLATE_KEYS[kind]
        return lambda d: d["spec"]["templates"][idx[kind]][key]

    stress, io, time = spec("StressChaos"), spec("IOChaos"), spec("TimeChaos")
    breakages = [
        (lambda d: stress(d).pop("stressors"), "no stressor at all"),
        (lambda d: stress(d)["stressors"]["cpu"].__setitem__("workers", 0), "0 workers"),
        (lambda d: stress(d)["stressors"]["cpu"].__setitem__("load", 150), "load 150"),
        (lambda d: stress(d)["stressors"].__setitem__("hdd", {"workers": 1}), "no hdd stressor"),
        (lambda d: stress(d).__setitem__("stressngStressors", "--hdd 1"), "string dropped in v2.6"),
        (lambda d: io(d).pop("volumePath"), "volumePath"),
        (lambda d: io(d).__setitem__("volumePath", "data"), "relative volumePath"),
        (lambda d: io(d).pop("errno"), "fault without errno"),
        (lambda d: io(d).__setitem__("errno", 0), "errno 0"),
        (lambda d: io(d).__setitem__("methods", ["fdatasync"]), "not a FUSE method"),
        (lambda d: io(d).__setitem__("percent", 101), "percent"),
        (lambda d: io(d).__setitem__("action", "latency"), "latency without delay"),
        (lambda d: time(d).__setitem__("timeOffset", "3 s"), "timeOffset"),
        (lambda d: time(d).__setitem__("clockIds", ["CLOCK_WALL"]), "clockIds"),
        (lambda d: time(d).__setitem__("rate", 2), "no rate"),
    ]
    assert validate_manifests([wf]) == []
    for breaking, word in breakages:
        broken = copy.deepcopy(wf)
        breaking(broken)
        assert validate_manifests([broken]), f"schema accepted a broken workflow ({word})"


def test_shipped_experiments_export_their_new_faults_once_the_refused_entry_is_gone() -> None:
    """deep-nemesis without its one-way: the clock bump its nemesis draws is a TimeChaos;
    postgres-fsync-eio aimed at a named node instead of the role: an IOChaos EIO on fsync."""
    text = (ROOT / "experiments/deep-nemesis.yaml").read_text()
    text = "\n".join(line for line in text.splitlines() if "fault: one-way" not in line)
    out = exported(text)
    assert [t["templateType"] for t in workflow_chaos(out)].count("TimeChaos") == 1
    assert validate_manifests(out.objects()) == []

    text = (ROOT / "experiments/postgres-fsync-eio.yaml").read_text()
    exp = load_experiment_text(text)
    node = exp.topology.nodes[0].name
    out = exported(text.replace("target: primary", f"target: {node}"))
    (io,) = [t["ioChaos"] for t in workflow_chaos(out) if t["templateType"] == "IOChaos"]
    assert io["errno"] == 5 and io["methods"] == ["fsync"] and io["volumePath"] == DATA_PATH
    assert io["duration"] == "20000ms"
    assert validate_manifests(out.objects()) == []
