"""Plausible mistakes a new user makes in an experiment file, through `chaoskit validate`:
each must be refused with exit 2 and `file:line: field: message`, the message naming
what would be valid. The entries cover the systems, faults and checks added last
(zones, clock motion, disk and resource faults, generic systems, databases, isolation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.experiment.cli import validate

HEAD = """\
name: bad
backend: {backend}
topology:
  regions:
    beijing: {{location: beijing, zones: {{bj-dc1: 2, bj-dc2: 1}}}}
    xian: {{location: xian, zones: {{xa-dc1: 1}}}}
  clients: 2
"""
GEOKV = "system: {kind: geokv}\nload: {workload: register, duration: 10s}\n"

# (id, backend, body after HEAD, line, field, words the message must contain)
CASES = [
    (
        "fault-name-typo",
        "local",
        GEOKV + "schedule:\n  - {at: 1s, for: 2s, fault: cut-regoin, region: xian}\n",
        11,
        "schedule.0.fault",
        "did you mean 'cut-region'",
    ),
    (
        "unknown-zone",
        "local",
        GEOKV + "schedule:\n  - {at: 1s, for: 2s, fault: cut-zone, zone: bj-dc3}\n",
        11,
        "schedule.0.zone",
        "zones: bj-dc1, bj-dc2, xa-dc1, or random",
    ),
    (
        "duration-without-unit-word",
        "local",
        "system: {kind: geokv}\nload: {workload: register, duration: 10 secs}\n",
        9,
        "load.duration",
        "e.g. 30s",
    ),
    (
        "generic-shell-string",
        "local",
        "system:\n  kind: generic\n  ports: [client]\n"
        '  command: "redis-server --port {port.client}"\n'
        '  ready: {command: [redis-cli, -p, "{port.client}", PING], deadline: 10s}\n'
        "  client: {protocol: redis}\n"
        "load: {workload: register, duration: 10s}\n",
        11,
        "system.command",
        "give an argv list",
    ),
    (
        "generic-port-template-typo",
        "local",
        "system:\n  kind: generic\n  ports: [client]\n"
        '  command: [redis-server, --port, "{port.clinet}"]\n'
        '  ready: {command: [redis-cli, -p, "{port.client}", PING], deadline: 10s}\n'
        "  client: {protocol: redis}\n"
        "load: {workload: register, duration: 10s}\n",
        11,
        "system.command.2",
        "this system's ports: client",
    ),
    (
        "clock-fault-on-etcd",
        "docker",
        "system: {kind: etcd}\nload: {workload: register, duration: 10s}\n"
        "schedule:\n  - {at: 1s, for: 2s, fault: clock-drift, target: random-node, rate: 2}\n",
        11,
        "schedule.0.fault",
        "remove this clock-drift fault",
    ),
    (
        "resource-fault-on-local",
        "local",
        GEOKV
        + "schedule:\n  - {at: 1s, for: 2s, fault: cpu-limit, target: random-node, cpus: 0.5}\n",
        11,
        "schedule.0.fault",
        "use backend: docker",
    ),
    (
        "isolation-check-on-register",
        "local",
        GEOKV + "checks:\n  isolation: serializable\n",
        11,
        "checks.isolation",
        "list-append, rw-register",
    ),
    (
        "lost-writes-min-not-a-number",
        "local",
        GEOKV + 'checks:\n  lost_writes: {min: "one"}\n',
        11,
        "checks.lost_writes.min",
        "whole number >= 1",
    ),
    (
        "lost-writes-min-a-boolean",
        "local",
        GEOKV + "checks:\n  lost_writes: {min: true}\n",
        11,
        "checks.lost_writes.min",
        "whole number >= 1",
    ),
    (
        "disk-op-typo",
        "local",
        GEOKV
        + "schedule:\n  - {at: 1s, for: 2s, fault: disk-error, target: random-node, op: fsynk}\n",
        11,
        "schedule.0.op",
        "valid: fsync, write, both",
    ),
    (
        "node-partition-unknown-node",
        "local",
        GEOKV
        + "schedule:\n  - {at: 1s, for: 2s, fault: partition-nodes, groups: [[beijing-9], [xian-1]]}\n",
        11,
        "schedule.0.groups.0.0",
        "beijing-1, beijing-2, beijing-3, xian-1",
    ),
    (
        "system-kind-typo",
        "local",
        "system: {kind: postgres}\nload: {workload: register, duration: 10s}\n",
        8,
        "system.kind",
        "did you mean 'postgres-patroni'",
    ),
    (
        "isolation-level-unknown",
        "local",
        "system: {kind: postgres-patroni, isolation: snapshot}\n"
        "load: {workload: list-append, duration: 10s}\n",
        8,
        "system.isolation",
        "valid: serializable, repeatable-read, read-committed",
    ),
    (
        "consistency-model-typo",
        "local",
        "system: {kind: postgres-patroni}\nload: {workload: list-append, duration: 10s}\n"
        "checks:\n  isolation: serialisable\n",
        11,
        "checks.isolation",
        "did you mean 'serializable'",
    ),
    (
        "list-append-on-a-register-store",
        "local",
        "system: {kind: geokv}\nload: {workload: list-append, duration: 10s}\n",
        9,
        "load.workload",
        "it supports register, cas-register, set",
    ),
    (
        "geokv-option-without-its-unit",
        "local",
        "system:\n  kind: geokv\n  mode: lww\n  replication_delay: 0.5\n"
        "load: {workload: register, duration: 10s}\n",
        11,
        "system.replication_delay",
        "unknown geokv option; valid: failover_s, homes, kind, mode, node_regions, "
        "op_timeout_s, peer_timeout_s, proposer, replication_delay_s",
    ),
    (
        "geokv-mode-unknown",
        "local",
        "system:\n  kind: geokv\n  mode: raft\nload: {workload: register, duration: 10s}\n",
        10,
        "system.mode",
        "'raft' is not a geokv mode; valid: quorum, lww, unit",
    ),
    (
        "etcd-option-without-its-unit",
        "docker",
        "system:\n  kind: etcd\n  heartbeat: 100\nload: {workload: register, duration: 10s}\n",
        10,
        "system.heartbeat",
        "unknown etcd option; valid: election_ms, heartbeat_ms, kind, leader_region, "
        "node_regions, restore_timeout_s",
    ),
]


@pytest.mark.parametrize(
    "backend, body, line, field, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_mistake_is_refused_with_file_line_field_and_what_is_valid(
    tmp_path: Path, backend: str, body: str, line: int, field: str, words: str
) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(HEAD.format(backend=backend) + body)
    res = CliRunner().invoke(validate, [str(p)])
    assert res.exit_code == 2, res.output
    lines = [ln.strip() for ln in res.output.splitlines()]
    hit = [ln for ln in lines if ln.startswith(f"{p}:{line}: {field}: ")]
    assert hit and words in hit[0], res.output


def test_postgres_isolation_option_and_list_append_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "ok.yaml"
    p.write_text(
        HEAD.format(backend="local")
        + "system: {kind: postgres-patroni, isolation: repeatable-read}\n"
        + "load: {workload: list-append, duration: 10s}\n"
        + "checks:\n  isolation: {consistency: serializable, expect: [G2-item]}\n"
    )
    res = CliRunner().invoke(validate, [str(p)])
    assert res.exit_code == 0, res.output


def test_problems_are_listed_in_file_order(tmp_path: Path) -> None:
    # the workload is checked before the system's options; the listing follows the file
    p = tmp_path / "bad.yaml"
    p.write_text(
        HEAD.format(backend="local")
        + "system: {kind: redis-sentinel, sentinals: 3}\n"
        + "load: {workload: list-append, duration: 10s}\n"
    )
    res = CliRunner().invoke(validate, [str(p)])
    assert res.exit_code == 2, res.output
    lines = [ln.strip() for ln in res.output.splitlines() if ln.strip().startswith(str(p))]
    assert [ln.split(":")[1] for ln in lines] == ["8", "9"], res.output


def test_set_past_the_end_of_a_list_names_its_length() -> None:
    smoke = str(Path(__file__).resolve().parent.parent / "experiments" / "smoke.yaml")
    res = CliRunner().invoke(validate, [smoke, "--set", "schedule.3.for=5s"])
    assert res.exit_code == 2, res.output
    assert "schedule has 1 entry; use 0..1 (1 appends)" in res.output, res.output
