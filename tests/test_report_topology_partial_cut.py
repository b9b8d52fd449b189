"""The report's topology picture and RTT table: a zone or node-group fault that cuts
only some nodes of two regions says how many node pairs it cut, rather than showing
the whole region pair as cut; a fault that cuts every node pair stays "cut by f1"."""

from __future__ import annotations

import re
from pathlib import Path

from chaoskit.experiment import load_experiment_text
from chaoskit.report.data import FaultWindow, RunData
from chaoskit.report.topo import topology_dict

EXP = """\
name: t
backend: local
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 2, bj-dc2: 2}}
    xian: {location: xian, zones: {xa-dc1: 1}}
system: {kind: geokv}
load: {workload: register, duration: 10s}
"""
S = 1_000_000_000


def _topo(tmp_path: Path, kind: str, links: list[str]) -> dict:
    exp = load_experiment_text(EXP, name="t.yaml")
    fault = FaultWindow("f1", kind, {}, {"links": links}, 1 * S, 2 * S)
    run = RunData(tmp_path, [], [fault], [], 0, 3 * S, 3 * S, ["beijing", "xian"])
    return topology_dict(exp.topology, run)


def test_a_zone_cut_names_the_node_pairs_it_cut(tmp_path: Path) -> None:
    links = [f"{a}->{b}:http" for a, b in [("beijing-1", "xian-1"), ("xian-1", "beijing-1")]]
    links += [f"{a}->{b}:http" for a, b in [("beijing-2", "xian-1"), ("xian-1", "beijing-2")]]
    links += ["beijing-1->beijing-3:http"]  # inside Beijing: marks nodes, not the pair
    (pair,) = _topo(tmp_path, "cut-zone", links)["pairs"]
    assert pair["cut_by"] == ["f1 (2 of 4 node pairs)"]


def test_a_cut_of_every_node_pair_is_a_cut(tmp_path: Path) -> None:
    links = [f"beijing-{i}->xian-1:http" for i in range(1, 5)]
    (pair,) = _topo(tmp_path, "partition-nodes", links)["pairs"]
    assert pair["cut_by"] == ["f1"]


def test_one_region_is_drawn_at_the_scale_of_two(tmp_path: Path) -> None:
    from chaoskit.report.plots import topology_picture

    one = load_experiment_text(
        EXP.replace("    xian: {location: xian, zones: {xa-dc1: 1}}\n", ""), name="t.yaml"
    )
    svg = topology_picture(topology_dict(one.topology, None))
    w, h = (float(x) for x in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups())
    assert w / h > 2.5, (w, h)  # a wide strip, not a square blown up to the page's width
