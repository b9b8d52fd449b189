"""Real Locust processes against a real (tiny, linearizable) server on loopback.

chaoskit.testing.fakekv is one process with one lock, so every history recorded
against it must be well formed and linearizable; `hang_every` makes it sleep past
the client timeout on every Nth request, which yields honest `info` outcomes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.load import LoadPlan, WorkloadSpec, final_reads, start_load
from chaoskit.load.history import problems, read_records

FAKE = "chaoskit.testing.fakekv:FakeKVAdapter"


def _start_fakekv(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    pf = tmp_path / f"fakekv-{len(list(tmp_path.glob('fakekv-*')))}.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit.testing.fakekv", "--port-file", str(pf), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not pf.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "fakekv did not start"
        time.sleep(0.02)
    return proc, json.loads(pf.read_text())["port"]


@pytest.fixture
def fakekv(tmp_path: Path) -> Iterator[int]:
    proc, port = _start_fakekv(tmp_path, "--hang-every", "40", "--hang-s", "1.0")
    yield port
    proc.kill()
    proc.wait()


def _plan(tmp_path: Path, port: int, **kw) -> LoadPlan:
    wl = WorkloadSpec(
        "register", keys=3, duration_s=3.0, rate=60.0, read_ratio=0.5, timeout_s=0.4, seed=3
    )
    views = {r: {f"{r}-1": {"http": f"127.0.0.1:{port}"}} for r in ("east", "west")}
    plan = LoadPlan(
        FAKE, {}, views, {"east": 3, "west": 2}, wl, time.monotonic_ns(), tmp_path / "out"
    )
    for k, v in kw.items():
        setattr(plan, k, v)
    return plan


def test_local_run_records_a_wellformed_history_with_rate_regions_csvs_and_final_reads(
    tmp_path: Path, fakekv: int
) -> None:
    plan = _plan(tmp_path, fakekv)
    run = start_load(plan)
    assert run.alive()
    assert run.wait(timeout_s=60) == 0
    final = final_reads(plan)
    assert final == {"east": {"ok": 3, "failed": 0}, "west": {"ok": 3, "failed": 0}}

    recs = read_records(plan.history_path)
    assert problems(recs) == []
    load = [r for r in recs if r.get("phase") != "final"]
    assert {r["region"] for r in load} == {"east", "west"}
    assert {r["node"] for r in load} == {"east-1", "west-1"}
    # each hang past the timeout is an honest info; the user continues as a new process
    infos = [r for r in load if r["type"] == "info"]
    assert infos, "hang_every should have produced info outcomes"
    end = max(r["time"] for r in load)
    early_infos = [r for r in infos if r["time"] < end - 1_000_000_000]  # their users went on
    assert len({r["process"] for r in load}) >= 5 + len(early_infos)
    # unique written values: a lost write is identifiable
    writes = [r["value"] for r in load if r["type"] == "invoke" and r["f"] == "write"]
    assert writes and len(writes) == len(set(writes))
    # the final phase comes last, one read per key and region, all ok
    fin = [r for r in recs if r.get("phase") == "final"]
    assert fin == recs[-len(fin) :]
    assert sorted((r["region"], r["key"]) for r in fin if r["type"] == "ok") == sorted(
        (g, f"k{i}") for g in ("east", "west") for i in range(3)
    )
    assert min(r["time"] for r in fin) > max(r["time"] for r in load)

    # achieved rate near the requested 60/s (each info costs its user 0.4 s, so allow a margin)
    s = run.summary()
    assert s is not None and 40 <= s["ops_per_s"] <= 66, s
    assert s["per_region"]["east"]["ops"] > s["per_region"]["west"]["ops"]  # 3 users vs 2
    # Locust's own CSVs, with both regions' operations
    out = Path(plan.out_dir)
    for name in (
        "locust_stats.csv",
        "locust_stats_history.csv",
        "locust_failures.csv",
        "locust_exceptions.csv",
    ):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "locust_stats.csv")))
    names = {r["Name"] for r in rows}
    assert {"east read", "east write", "west read", "west write", "Aggregated"} <= names
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    assert int(agg["Request Count"]) == s["ops"]
    assert int(agg["Failure Count"]) == len(infos)
    assert not list(out.glob(".*")), "no temporary files left behind"


def test_history_of_a_run_is_linearizable(tmp_path: Path, fakekv: int) -> None:
    import chaoskit.checker as checker

    plan = _plan(
        tmp_path,
        fakekv,
        workload=WorkloadSpec("cas-register", 2, 2.0, 80.0, None, 0.4, 0.3, 0.4, 1),
    )
    assert start_load(plan).wait(timeout_s=60) == 0
    final_reads(plan)
    assert problems(read_records(plan.history_path)) == []
    res = checker.check_linearizable(checker.read_history(plan.history_path), "cas-register")
    assert res.verdict == "linearizable", res.explanation


def test_stop_early_flushes_and_leaves_no_process(tmp_path: Path, fakekv: int) -> None:
    plan = _plan(tmp_path, fakekv, workers=2)
    plan.workload.duration_s = 60.0
    run = start_load(plan)
    pids = run.pids
    assert len(pids) == 3
    time.sleep(1.5)
    t = time.monotonic()
    run.stop()
    run.stop()  # idempotent
    assert time.monotonic() - t < 20
    assert not run.alive()
    for pid in pids:  # each ran as the leader of its own process group: nothing of it is left
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    recs = read_records(plan.history_path)
    assert recs and problems(recs) == []
    s = run.summary()
    assert s is not None and s["stopped_early"] and s["duration_s"] < 30


def test_distributed_run_merges_two_workers_into_one_history(tmp_path: Path, fakekv: int) -> None:
    plan = _plan(tmp_path, fakekv, workers=2)
    run = start_load(plan)
    assert run.wait(timeout_s=90) == 0
    final_reads(plan)
    recs = read_records(plan.history_path)
    assert problems(recs) == []  # dense index, one op per process, info rule
    load = [r for r in recs if r.get("phase") != "final"]
    times = [r["time"] for r in load]
    assert times == sorted(times)
    assert {r["region"] for r in load} == {"east", "west"}
    writes = [r["value"] for r in load if r["type"] == "invoke" and r["f"] == "write"]
    assert len(writes) == len(set(writes)), "written values collide across workers"
    # 5 users over 2 workers: at least 5 distinct process numbers, none shared (a
    # number two workers both used would show up in two regions or overlap in time)
    assert len({r["process"] for r in load}) >= 5
    region_of: dict[int, set[str]] = {}
    for r in load:
        region_of.setdefault(r["process"], set()).add(r["region"])
    assert all(len(v) == 1 for v in region_of.values())
    log = (Path(plan.out_dir) / "load.log").read_text()
    assert log.count("reported as ready") >= 2
    s = run.summary()
    assert s is not None and s["workers"] == 2 and 40 <= s["ops_per_s"] <= 66, s


def test_unreachable_system_gives_fail_not_silence(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        plan = _plan(tmp_path, port)
        plan.workload.duration_s = 1.0
        assert start_load(plan).wait(timeout_s=60) == 0
        result = final_reads(plan, attempts=2)
    assert result == {"east": {"ok": 0, "failed": 3}, "west": {"ok": 0, "failed": 3}}
    recs = read_records(plan.history_path)
    assert problems(recs) == []
    done = [r for r in recs if r["type"] != "invoke"]
    # connection refused = certainly not applied; only an op Locust interrupted at the stop is info
    odd = [
        r
        for r in done
        if not (r["type"] == "fail" and "connect" in r["error"]) and "stopped" not in r["error"]
    ]
    assert done and not odd, odd[:3]


def test_bad_plan_is_refused_before_any_process_starts(tmp_path: Path) -> None:
    from chaoskit.load import PlanError

    plan = _plan(tmp_path, 1, users={"north": 1})
    with pytest.raises(PlanError, match="users.north"):
        start_load(plan)
    assert not (tmp_path / "out").exists()


def test_remote_style_worker_gets_the_plan_syncs_its_clock_and_aliases_hosts(
    tmp_path: Path, fakekv: int
) -> None:
    """A worker started by hand, as on another machine: no plan file, --clock sync, and
    node addresses it must reach under another host name (--host-alias)."""
    import threading

    plan = _plan(tmp_path, fakekv, remote_workers=1, worker_wait_s=30.0)
    plan.workload.duration_s = 2.0
    plan.views = {r: {f"{r}-1": {"http": f"kv.invalid:{fakekv}"}} for r in ("east", "west")}
    started: dict = {}
    th = threading.Thread(target=lambda: started.setdefault("run", start_load(plan)))
    th.start()
    port_file = Path(plan.out_dir) / ".load-port.json"
    deadline = time.monotonic() + 30
    while not port_file.exists():
        assert time.monotonic() < deadline, "master did not start"
        time.sleep(0.02)
    port = json.loads(port_file.read_text())["port"]
    log = open(tmp_path / "remote-worker.log", "wb")
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "chaoskit.load.runner", "--role", "worker",
            "--master-host", "127.0.0.1", "--master-port", str(port),
            "--clock", "sync", "--host-alias", "kv.invalid=127.0.0.1",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        th.join(timeout=60)
        run = started["run"]
        assert run.wait(timeout_s=60) == 0
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()
    wlog = (tmp_path / "remote-worker.log").read_text()
    assert "clock offset to master found" in wlog, wlog[-2000:]
    recs = read_records(plan.history_path)
    assert problems(recs) == []
    oks = [r for r in recs if r["type"] == "ok"]
    assert len(oks) > 50  # the alias made the nodes reachable
    # synced times sit on the run's time base: after t0, before now
    span = time.monotonic_ns() - plan.t0_ns
    assert 0 < recs[0]["time"] and recs[-1]["time"] < span


def test_web_ui_for_game_days_with_auth_and_extra_routes(tmp_path: Path, fakekv: int) -> None:
    import base64
    import urllib.error
    import urllib.request

    web = {
        "host": "127.0.0.1",
        "port": 0,
        "auth": "ops:s3cret",
        "extra": "chaoskit.testing.fakekv:add_ping_route",
    }
    plan = _plan(tmp_path, fakekv, web_ui=web)
    plan.workload.duration_s = 30.0
    run = start_load(plan)
    try:
        assert run.web_url and run.web_url.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(run.web_url + "/", timeout=10)
        assert e.value.code == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()}
        ping = urllib.request.urlopen(
            urllib.request.Request(run.web_url + "/chaoskit-ping", headers=auth), timeout=10
        )
        assert ping.read() == b"pong"
        stats = urllib.request.urlopen(
            urllib.request.Request(run.web_url + "/stats/requests", headers=auth), timeout=10
        )
        assert json.loads(stats.read())["state"] in ("spawning", "running")
    finally:
        run.stop()
    assert not run.alive()


def test_killed_load_process_leaves_a_wellformed_history(tmp_path: Path) -> None:
    """SIGKILL (the engine's last resort) mid-operation: open invokes become info."""
    proc, port = _start_fakekv(tmp_path, "--hang-every", "1", "--hang-s", "5")  # every op hangs
    try:
        plan = _plan(tmp_path, port)
        plan.workload.timeout_s = 10.0
        plan.workload.duration_s = 30.0
        run = start_load(plan)
        deadline = time.monotonic() + 20
        while plan.history_path.read_text().count('"invoke"') < 5:  # all 5 users in flight
            assert time.monotonic() < deadline
            time.sleep(0.05)
        run.kill()
        run.kill()  # idempotent
        assert not run.alive()
    finally:
        proc.kill()
        proc.wait()
    recs = read_records(plan.history_path)
    assert problems(recs) == []
    infos = [r for r in recs if r["type"] == "info"]
    assert len(infos) == 5 and all("ended abnormally" in r["error"] for r in infos)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_client_that_cannot_be_made_ends_the_load_loudly(tmp_path: Path, workers: int) -> None:
    plan = _plan(tmp_path, 1, workers=workers)
    plan.views = {
        r: {f"{r}-1": {"grpc": "127.0.0.1:1"}} for r in ("east", "west")
    }  # no "http" port
    plan.workload.duration_s = 30.0
    t = time.monotonic()
    run = start_load(plan)
    assert run.wait(timeout_s=30) == 3
    assert time.monotonic() - t < 20  # ended early, not after its 30 s
    assert (
        "cannot make a chaoskit.testing.fakekv:FakeKVAdapter client"
        in (Path(plan.out_dir) / "load.log").read_text()
    )
    s = run.summary()
    assert s is not None and s["fatal"] and s["stopped_early"]


def test_final_reads_cover_every_region_and_respect_the_budget(tmp_path: Path, fakekv: int) -> None:
    plan = _plan(tmp_path, fakekv, users={"east": 1, "west": 0})
    plan.out_dir.mkdir(parents=True)
    assert final_reads(plan) == {"east": {"ok": 3, "failed": 0}, "west": {"ok": 3, "failed": 0}}
    recs = read_records(plan.history_path)
    assert problems(recs) == [] and all(r["phase"] == "final" for r in recs)
    assert {r["region"] for r in recs} == {"east", "west"}
    # a region still cut off: once the budget is spent, one attempt per remaining key
    cut = _plan(tmp_path / "cut", 1)
    cut.out_dir.mkdir(parents=True)
    t = time.monotonic()
    assert final_reads(cut, attempts=5, budget_s=0.0) == {
        "east": {"ok": 0, "failed": 3},
        "west": {"ok": 0, "failed": 3},
    }
    assert time.monotonic() - t < 5
    assert len(read_records(cut.history_path)) == 2 * 3 * 2  # 3 keys x 2 regions, invoke + fail


def test_load_stops_by_itself_when_the_engine_is_killed(tmp_path: Path, fakekv: int) -> None:
    """The engine dies by SIGKILL mid-run: the load (own session) notices and ends cleanly."""
    plan = _plan(tmp_path, fakekv)
    plan.workload.duration_s = 120.0
    plan.out_dir.mkdir(parents=True)
    plan.write(tmp_path / "plan.json")
    engine = (
        "import json, os, signal, sys\n"
        "from pathlib import Path\n"
        "from chaoskit.load import LoadPlan, start_load\n"
        f"run = start_load(LoadPlan.read(Path({str(tmp_path / 'plan.json')!r})))\n"
        f"Path({str(tmp_path / 'pids.json')!r}).write_text(json.dumps(run.pids))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    r = subprocess.run([sys.executable, "-c", engine], timeout=60)
    assert r.returncode == -9
    pid = json.loads((tmp_path / "pids.json").read_text())[0]
    deadline = time.monotonic() + 30
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the load outlived its engine"
        time.sleep(0.1)
    s = json.loads((Path(plan.out_dir) / "load-summary.json").read_text())
    assert s["stopped_early"] and s["duration_s"] < 60
    assert problems(read_records(plan.history_path)) == []
