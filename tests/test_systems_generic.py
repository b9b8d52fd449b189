"""The generic system spec: every bad block gets file:line: field: message, and a
good one renders each node's argv with its peers as the node reaches them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import wait_for

from chaoskit.backends.local import LocalBackend
from chaoskit.experiment import ExperimentError, load_experiment
from chaoskit.systems import get_adapter
from chaoskit.systems.base import SystemContext

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")

HEAD = """\
name: gen
topology:
  regions:
    beijing: {location: beijing, zones: {bj-dc1: 2}}
    xian: {location: xian, zones: {xa-dc1: 1}}
load: {workload: register, duration: 5s, rate: 10}
system:
  kind: generic
  ports: [client, peer]
"""
GOOD_BODY = """\
  command: [cat, --name, "{name}", --listen, "{listen.client}", --join, "{peers.peer}",
            {each_peer: [--peer, "{peer}@{peer_addr.peer}"]}]
  peers: {separator: ";", format: "{peer}={addr}"}
  env: {NODE_ZONE: "{zone}"}
  ready: {tcp: client, deadline: 10s}
  client:
    protocol: http
    port: client
    read: {path: "/kv/{key}", value: "json:value"}
    write: {method: PUT, path: "/kv/{key}", body: "{value}"}
"""


def _errors(tmp_path: Path, body: str) -> list[str]:
    f = tmp_path / "gen.yaml"
    f.write_text(HEAD + body)
    with pytest.raises(ExperimentError) as e:
        load_experiment(f)
    return [str(x) for x in e.value.errors]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # missing command
            GOOD_BODY.split("\n", 2)[2],
            "gen.yaml:7: system: a generic system needs `command`",
        ),
        (  # a port the system does not have
            GOOD_BODY.replace('"{listen.client}"', '"{listen.raft}"'),
            "gen.yaml:10: system.command.4: unknown port name 'raft' in {listen.raft}; "
            "this system's ports: client, peer",
        ),
        (
            GOOD_BODY.replace("protocol: http", "protocol: grpc"),
            "gen.yaml:16: system.client.protocol: unknown client protocol 'grpc'; "
            "valid: command, http, redis, sql",
        ),
        (
            GOOD_BODY.replace("{tcp: client, deadline: 10s}", "{tcp: client}"),
            "gen.yaml:14: system.ready: a ready probe needs a deadline",
        ),
        (
            GOOD_BODY.replace(
                GOOD_BODY.split("\n")[0] + "\n" + GOOD_BODY.split("\n")[1],
                '  command: "my-server --name {name} --listen {listen.client}"',
            ),
            "gen.yaml:10: system.command: a shell string",
        ),
        (
            GOOD_BODY.replace('path: "/kv/{key}", value', 'path: "/kv/{kye}", value'),
            "gen.yaml:18: system.client.read.path: unknown placeholder {kye} for read",
        ),
        (
            GOOD_BODY.replace("    write: {", "    writ: {"),
            "system.client: workload register sends read, write; describe write too",
        ),
    ],
    ids=[
        "missing-command",
        "unknown-port",
        "unknown-protocol",
        "no-deadline",
        "shell-string",
        "client-placeholder",
        "workload-ops",
    ],
)
def test_bad_blocks_name_the_line(tmp_path: Path, body: str, expected: str) -> None:
    errors = _errors(tmp_path, body)
    assert any(expected in e for e in errors), "\n".join(errors)


def test_validate_exits_2_with_the_line(tmp_path: Path) -> None:
    f = tmp_path / "gen.yaml"
    f.write_text(HEAD + GOOD_BODY.replace("{tcp: client, deadline: 10s}", "{tcp: client}"))
    r = subprocess.run([CHAOSKIT, "validate", str(f)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{f}:14: system.ready: a ready probe needs a deadline" in r.stderr


def test_argv_env_and_peers_as_the_node_sees_them(tmp_path: Path) -> None:
    f = tmp_path / "gen.yaml"
    f.write_text(HEAD + GOOD_BODY)
    exp = load_experiment(f)
    adapter = get_adapter("generic")(exp.system.options)
    assert adapter.ports == ("client", "peer")
    plan = LocalBackend(tmp_path).plan(exp.topology, adapter.ports)
    nodes = [n.name for n in exp.topology.nodes]
    ctx = SystemContext(exp.topology, plan, backend=None, members=nodes)  # type: ignore[arg-type]
    spec = adapter.node_spec("xian-1", ctx)
    inside = plan.inside["xian-1"]
    bind = plan.node_bind["xian-1"]["client"]
    assert spec.argv[:5] == ["cat", "--name", "xian-1", "--listen", f"{bind}"]
    joined = ";".join(f"{n}={inside[n]['peer']}" for n in nodes)
    assert spec.argv[5:7] == ["--join", joined]
    assert spec.argv[7:] == [w for n in nodes for w in ("--peer", f"{n}@{inside[n]['peer']}")]
    # beijing's nodes are reached through xian's link, not directly
    assert inside["beijing-1"]["peer"] != plan.node_bind["beijing-1"]["peer"]
    assert spec.env == {"NODE_ZONE": "xa-dc1"} and not spec.faketime


def test_clock_fault_needs_clock_skew_true(tmp_path: Path) -> None:
    skew = "schedule:\n  - {at: 1s, for: 1s, fault: clock-skew, target: xian-1, offset: 2s}\n"
    errors = _errors(tmp_path, GOOD_BODY + skew)
    assert any("gen.yaml:21:" in e and "set clock_skew: true" in e for e in errors), errors
    f = tmp_path / "ok.yaml"
    f.write_text(HEAD + GOOD_BODY + "  clock_skew: true\n" + skew)
    assert load_experiment(f).system.options["clock_skew"] is True


MEMBERS_CMD = (
    "import json, sys, urllib.request as u\n"
    "url, new = sys.argv[1], sys.argv[2:]\n"
    "body = json.dumps({'members': new[0].split(',')}).encode() if new else None\n"
    "req = u.Request(url, data=body, headers={'Content-Type': 'application/json'})\n"
    "print(' '.join(json.load(u.urlopen(req, timeout=3))['members']))\n"
)
ROLE_CMD = (
    "import json, sys, urllib.request as u\n"
    "m = json.load(u.urlopen(sys.argv[1], timeout=3))['members']\n"
    "print('voter' if sys.argv[2] in m else 'outside')\n"
)
GEOKV = f"""\
name: gen-geokv
topology:
  regions:
    beijing: {{location: beijing, zones: {{bj-dc1: 2}}}}
    xian: {{location: xian, zones: {{xa-dc1: 1}}}}
system:
  kind: generic
  ports: [http]
  command: [python3, -m, chaoskit.systems.geokv, --id, "{{name}}", --region, "{{region}}",
            --listen, "{{listen.http}}", --data-dir, "{{data_dir}}",
            {{each_peer: [--peer, "{{peer}}={{peer_region}}@{{peer_addr.http}}"]}}]
  ready: {{http: {{port: http, path: /health}}, deadline: 20s}}
  client:
    protocol: http
    read: {{method: POST, path: /op, body: '{{"f": "read", "key": {{key}}}}', value: "json:value"}}
    write: {{method: POST, path: /op, body: '{{"f": "write", "key": {{key}}, "value": {{value}}}}'}}
  roles:
    command: [python3, -c, {json.dumps(ROLE_CMD)}, "http://{{addr.http}}/admin/members", "{{name}}"]
    names: [voter, outside]
  degrade: [python3, -c, {json.dumps(MEMBERS_CMD)}, "http://{{addr.http}}/admin/members", "{{survivors}}"]
  restore: [python3, -c, {json.dumps(MEMBERS_CMD)}, "http://{{addr.http}}/admin/members", "{{members}}"]
"""


def test_roles_degrade_restore_and_failover(tmp_path: Path) -> None:
    """A real geokv cluster started from the generic spec: the roles probe reads each
    node's membership, degrade/restore commands rewrite it through its admin API, and
    a load user whose node dies moves to its region's other node."""
    from chaoskit.cluster import Cluster

    f = tmp_path / "gen.yaml"
    f.write_text(GEOKV)
    exp = load_experiment(f)
    adapter = get_adapter("generic")(exp.system.options)
    assert adapter.role_names == ("voter", "outside")
    with Cluster(exp.topology, adapter, LocalBackend(tmp_path / "run")) as c:
        assert c.client("xian").invoke("write", "k", 1).type == "ok"
        assert adapter.roles(c.system) == {"voter": ["beijing-1", "beijing-2", "xian-1"]}
        adapter.degrade_quorum(c.system, ["beijing-1", "beijing-2"])
        assert c.system.members == ["beijing-1", "beijing-2"]
        assert adapter.roles(c.system) == {"voter": ["beijing-1", "beijing-2"]}
        out = c.client("xian").invoke("write", "k", 2)
        # refused by a node outside the membership (a 5xx: the http client says info)
        assert out.type != "ok" and "not a member" in out.error
        adapter.restore_quorum(c.system, ["xian-1"])
        assert c.system.members == ["beijing-1", "beijing-2", "xian-1"]
        assert adapter.roles(c.system) == {"voter": ["beijing-1", "beijing-2", "xian-1"]}

        user = c.client("beijing")
        dead = user.node
        c.backend.kill_node(dead)
        wait_for(lambda: not c.backend.is_running(dead), 10, f"{dead} to die")
        out = user.invoke("write", "k", 3)
        # through the region's link proxy a dead node shows as a lost connection: unknown
        assert out.type in ("fail", "info") and out.error, out
        assert user.node != dead and user.invoke("write", "k", 4).type == "ok"


def test_programs_missing_on_this_host_are_refused(tmp_path: Path) -> None:
    body = GOOD_BODY.replace("[cat,", "[chaoskit-no-such-server,")
    f = tmp_path / "gen.yaml"
    f.write_text(
        "backend: local\n"
        + HEAD
        + body.replace(
            "{tcp: client, deadline: 10s}", "{command: [chaoskit-no-such-probe], deadline: 5s}"
        )
    )
    with pytest.raises(ExperimentError) as e:
        load_experiment(f)
    text = str(e.value)
    assert "system.command: 'chaoskit-no-such-server' is not found on this host's PATH" in text
    assert "system.ready.command: 'chaoskit-no-such-probe' is not found" in text
    # on docker the node command runs in the image: only the probe (on this host) counts
    f.write_text(f.read_text().replace("backend: local", "backend: docker"))
    with pytest.raises(ExperimentError) as e:
        load_experiment(f)
    assert "chaoskit-no-such-server" not in str(e.value)
    assert "chaoskit-no-such-probe" in str(e.value)
