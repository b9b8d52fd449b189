"""Real replicated databases across regions, through the public system interface:
Redis 7 + Sentinel and PostgreSQL 15 + Patroni (etcd DCS), from Debian's packages,
on the local backend. Each shipped experiment runs with its expected verdict
(shortened with --set where its timing allows); every node, Sentinel and etcd
member is gone afterwards, also after Ctrl-C; a node that cannot start fails the run
with its name and log; and nothing outside the systems' own packages names them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import need
from helpers import alive, descendants, run_events, start_run

ROOT = Path(__file__).resolve().parent.parent
CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def _need_redis() -> None:
    for tool in ("redis-server", "redis-sentinel"):
        need(tool, shutil.which(tool) is not None, f"apt-get install {tool}")
    need(
        "nss_wrapper",
        bool(list(Path("/usr/lib").glob("*/libnss_wrapper.so"))),
        "apt-get install libnss-wrapper",
    )


def _need_postgres() -> None:
    need(
        "PostgreSQL 15",
        Path("/usr/lib/postgresql/15/bin/postgres").exists(),
        "apt-get install postgresql-15",
    )
    for tool, pkg in (("patroni", "patroni"), ("etcd", "etcd-server")):
        need(tool, shutil.which(tool) is not None, f"apt-get install {pkg}")
    need(
        "nss_wrapper",
        bool(list(Path("/usr/lib").glob("*/libnss_wrapper.so"))),
        "apt-get install libnss-wrapper",
    )


@pytest.fixture
def results():
    """A results directory the unprivileged postgres user may enter (pytest's tmp_path is
    root-only)."""
    d = Path(tempfile.mkdtemp(prefix="chaoskit-db-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def processes_of(run_dir: Path) -> list[tuple[int, str]]:
    """Live processes whose working directory or command line is in the run directory
    (every node, Sentinel, etcd member and PostgreSQL server of a run works in its data
    directory; Redis rewrites its command line, so the directory is what finds it)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(p / "cwd")
        except OSError:
            continue
        if (str(run_dir) in cmd or cwd.startswith(str(run_dir))) and alive(int(p.name)):
            out.append((int(p.name), cmd[:120]))
    return out


def run(name: str, results: Path, *sets: str) -> tuple[int, Path, dict, list[dict], str]:
    args = [
        CHAOSKIT,
        "run",
        str(ROOT / "experiments" / f"{name}.yaml"),
        "--results",
        str(results),
        "--quiet",
    ]
    for s in sets:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=280)
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    assert run_dir.is_dir(), (p.stdout, p.stderr)
    assert not (run_dir / "INCOMPLETE").exists(), (run_dir / "INCOMPLETE").read_text()
    check = json.loads((run_dir / "check.json").read_text())
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert not processes_of(run_dir), "processes of the run left behind"
    # what a failed assertion on the exit code shows: the run and the checks that failed
    failed = [f"FAIL {c['message']}" for c in check.get("checks", []) if not c["passed"]]
    return p.returncode, run_dir, check, events, "\n".join([p.stdout + p.stderr, *failed])


def takeovers(events: list[dict]) -> list[dict]:
    return [e for e in events if e["event"] == "roles" and not e.get("initial")]


@pytest.mark.slow
def test_redis_sentinel_failover_loses_the_cut_primarys_writes(results: Path) -> None:
    _need_redis()
    code, _, check, events, out = run("redis-sentinel-failover", results, "load.duration=35s")
    assert code == 0, out
    assert check["linearizability"]["verdict"] == "not-linearizable"
    lost = check["lost_writes"]
    assert lost["count"] >= 1
    (w,) = lost["windows"]
    assert w["span_s"] > 1.0 and w["takeover"]["kind"] == "promotion"
    # Sentinel promoted a replica outside the cut region.
    assert takeovers(events) and takeovers(events)[0]["roles"]["primary"] != ["shanghai-1"]
    # The writes lost are the ones the isolated old primary acknowledged to its city's
    # clients (another city's write caught in flight by the cut may join them).
    regions = [x["region"] for x in lost["checker"]["lost"]]
    assert regions.count("shanghai") >= 0.9 * len(regions)
    results_ = {r["check"]: r for r in check["checks"]}
    assert "as this experiment expects" in results_["linearizable"]["message"]


@pytest.mark.slow
def test_redis_min_replicas_narrows_the_loss_window(results: Path) -> None:
    _need_redis()
    code, run_dir, check, _, out = run("redis-sentinel-min-replicas", results, "load.duration=35s")
    assert code == 0, out
    (w,) = check["lost_writes"]["windows"]
    assert 0 < w["span_s"] <= 8.0, w  # without the option: the whole cut and more (~22 s)
    # The isolated primary refused its city's writes once its replicas fell silent
    # (NOREPLICAS): that is what narrows the window. The refusals are definite failures.
    hist = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    refused = [h for h in hist if h["type"] == "fail" and "NOREPLICAS" in str(h.get("error"))]
    assert [h for h in refused if h["region"] == "shanghai"]


@pytest.mark.slow
def test_postgres_async_failover_loses_acknowledged_writes(results: Path) -> None:
    _need_postgres()
    code, _, check, events, out = run("postgres-async-failover", results, "load.duration=40s")
    assert code == 0, out
    lost = check["lost_writes"]
    assert lost["count"] >= 1
    w, *later = lost["windows"]
    assert w["span_s"] > 1.0 and w["takeover"]["kind"] == "promotion"
    assert "-> beijing-1" in w["takeover"]["detail"], out
    assert takeovers(events)[0]["roles"]["primary"] == ["beijing-1"]
    # A second window only from Patroni 3.0.2's leader-key bug: the old primary back
    # after the heal (patroni/patroni#2689; see the synchronous drill below).
    assert all("-> shanghai-1" in x["takeover"]["detail"] for x in later), out
    rtos = {r["region"]: r["rto_s"] for r in check["scorecard"]["rto"]}
    assert rtos["beijing"] is not None and rtos["beijing"] > 5  # it waited for the failover


@pytest.mark.slow
def test_postgres_sync_failover_loses_nothing(results: Path) -> None:
    _need_postgres()
    code, _, check, events, out = run("postgres-sync-failover", results, "load.duration=52s")
    assert takeovers(events)[0]["roles"]["primary"] == ["beijing-1"], out
    lost = check["lost_writes"]
    if lost["count"] == 0:
        assert code == 0, out
        assert check["linearizability"]["verdict"] == "linearizable"
        return
    # Debian's Patroni 3.0.2 can still lose synchronous writes: the cut-off primary,
    # slow to demote, overwrites the leader key right after the heal and becomes primary
    # again (patroni/patroni#2689, fixed in 3.0.3; docs/databases.md). The 40 s cut
    # avoids it on a quiet machine; under load (CI's two workers) the demotion outlasts
    # it. That loss, and only that one, is accepted here, and the run must report it.
    heal = next(e for e in events if e["event"] == "heal")
    back = [
        e
        for e in takeovers(events)
        if e["roles"]["primary"] == ["shanghai-1"] and e["time"] >= heal["time"]
    ]
    assert back, f"writes lost without the old primary's return after the heal:\n{out}"
    assert code == 1 and check["linearizability"]["verdict"] == "not-linearizable", out
    assert any("-> shanghai-1" in w["takeover"]["detail"] for w in lost["windows"]), out


@pytest.mark.slow
def test_ctrl_c_leaves_no_node_sentinel_or_member(results: Path) -> None:
    _need_redis()
    proc = start_run(ROOT / "experiments" / "redis-sentinel-failover.yaml", results)
    try:
        latest = results / "redis-sentinel-failover" / "latest"
        deadline = time.monotonic() + 90
        while not any(e["event"] == "load-start" for e in run_events(latest)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.3)
        run_dir = latest.resolve()
        time.sleep(1.0)
        kids = descendants(proc.pid)
        started = processes_of(run_dir)
        assert len([c for _, c in started if "[sentinel]" in c]) == 3, started
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, err
        time.sleep(0.3)
        assert not [k for k in kids if alive(k)], "processes left behind"
        assert not processes_of(run_dir)
    finally:
        if proc.poll() is None:  # the test failed midway: still tear the run down
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_a_node_that_cannot_start_fails_the_run_with_its_name_and_log(tmp_path: Path) -> None:
    """pytest's tmp_path is root-only (0700): PostgreSQL, which refuses to run as root,
    cannot reach its data directory there."""
    _need_postgres()
    p = subprocess.run(
        [
            CHAOSKIT,
            "run",
            str(ROOT / "experiments" / "postgres-async-failover.yaml"),
            "--results",
            str(tmp_path),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 3, p.stdout + p.stderr
    assert "node shanghai-1 exited before it was ready" in p.stderr
    assert "last lines of" in p.stderr and "who cannot enter" in p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    assert not processes_of(run_dir)


def _code_words(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every name, attribute, import and string in the code of `path`;
    docstrings and comments (prose that may mention any program) are left out."""
    import ast

    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            out.append((node.lineno, node.attr))
        elif isinstance(node, ast.alias):
            out.append((node.lineno, node.name))
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, node.module or ""))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            out.append((node.lineno, node.value))
    return out


def test_only_the_systems_packages_name_the_databases() -> None:
    """The databases are plug-ins: the code of the engine, backends, checker and
    experiment package (`chaoskit init` included) never names them (prose in
    docstrings and comments may)."""
    pattern = re.compile(r"postgres|patroni|redis|sentinel", re.IGNORECASE)
    files = [
        *ROOT.glob("chaoskit/engine*.py"),
        *ROOT.glob("chaoskit/backends/**/*.py"),
        *ROOT.glob("chaoskit/checker/**/*.py"),
        *ROOT.glob("chaoskit/experiment/**/*.py"),  # `chaoskit init` asks the adapters
    ]
    assert len(files) > 10
    hits = [
        f"{f.relative_to(ROOT)}:{line}: {text[:60]!r}"
        for f in files
        for line, text in _code_words(f)
        if pattern.search(text)
    ]
    assert hits == []


@pytest.mark.parametrize(
    "system, line, field, words",
    [
        ("{kind: redis-sentinel, quorum: zero}", 6, "system.quorum", "integer >= 1"),
        ("{kind: redis-sentinel, sentinals: [a-1]}", 6, "system.sentinals", "valid: down_after_ms"),
        (
            "{kind: postgres-patroni, synchronous_mode: yes please}",
            6,
            "system.synchronous_mode",
            "true or false",
        ),
        ("{kind: postgres-patroni, witness: hz}", 6, "system.witness", "list of node names"),
        ("{kind: postgres-patroni, ttl: -1}", 6, "system.ttl", "integer >= 2"),
        ("{kind: redis-sentinel, primary: 5}", 6, "system.primary", "must be a node name"),
    ],
)
def test_bad_system_options_name_file_line_and_what_is_valid(
    tmp_path: Path, system: str, line: int, field: str, words: str
) -> None:
    from chaoskit.experiment import ExperimentError, load_experiment

    p = tmp_path / "bad.yaml"
    p.write_text(
        "name: bad\nbackend: local\ntopology:\n  regions:\n    a: {location: beijing, zones: {a1: 1}}\n"
        f"system: {system}\n"
    )
    with pytest.raises(ExperimentError) as ei:
        load_experiment(p, [])
    assert f"{p}:{line}: {field}: " in str(ei.value) and words in str(ei.value), str(ei.value)


_DAEMONIZE = """
import os, subprocess, sys, time
if os.fork() == 0:  # a program that leaves the node's process group, as Patroni's postmaster does
    os.setsid()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    os._exit(0)
time.sleep(120)
"""


def test_a_killed_node_loses_what_left_its_process_group(tmp_path: Path) -> None:
    """SIGKILL to the node's process group (the kill fault, a hurried teardown) must also
    end a process that started its own session: the runner's guard kills what still
    works in the node's data directory."""
    (tmp_path / "d.py").write_text(_DAEMONIZE)
    cfg = {"commands": [[sys.executable, str(tmp_path / "d.py")]], "data_dir": str(tmp_path)}
    p = subprocess.Popen(
        [sys.executable, "-m", "chaoskit.systems.peernames", json.dumps(cfg)],
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while len(processes_of(tmp_path)) < 4:  # runner, command, guard, the escaped child
            assert time.monotonic() < deadline, processes_of(tmp_path)
            time.sleep(0.1)
        escaped = [pid for pid, _ in processes_of(tmp_path) if os.getsid(pid) not in (p.pid,)]
        assert escaped
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 10
    while processes_of(tmp_path):
        assert time.monotonic() < deadline, f"left behind: {processes_of(tmp_path)}"
        time.sleep(0.1)


def test_the_name_check_sees_code_but_not_prose(tmp_path: Path) -> None:
    """The check above must be able to fail: a name in code is found, prose is not."""
    f = tmp_path / "probe.py"
    f.write_text(
        '"""Talks about Redis."""\nimport os  # and redis\nKIND = "patroni"\nos.redis_port = 1\n'
    )
    words = [w for _, w in _code_words(f)]
    assert "patroni" in words and "redis_port" in words
    assert not [w for w in words if "Redis" in w or "and redis" in w]
