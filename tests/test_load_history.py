"""The load recorder's rules, without Locust: records, process numbers, merge."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from chaoskit.load.history import (
    HistoryFile,
    Recorder,
    normalize,
    problems,
    read_records,
    rewrite_normalized,
    scan_history,
)
from chaoskit.load.plan import LoadPlan, PlanError, WorkloadSpec
from chaoskit.load.workloads import UniqueValues, Workload, final_ops


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000

    def __call__(self) -> int:
        self.t += 10
        return self.t


def test_recorder_writes_dense_index_and_completions(tmp_path: Path) -> None:
    h = HistoryFile(tmp_path / "h.jsonl", start_index=0)
    rec = Recorder(h.write, t0_ns=1_000, clock=FakeClock())
    p = rec.new_process()
    rec.invoke(p, "write", "k0", 7, "east", "n1")
    rec.complete(p, "ok", None)
    rec.invoke(p, "read", "k0", None, "east", "n1")
    rec.complete(p, "ok", 7)
    h.close()
    recs = read_records(tmp_path / "h.jsonl")
    assert [r["index"] for r in recs] == [0, 1, 2, 3]
    assert [r["type"] for r in recs] == ["invoke", "ok", "invoke", "ok"]
    assert recs[1]["value"] == 7  # a write's completion repeats the invoked value
    assert recs[3]["value"] == 7  # a read's completion carries the value read
    assert all(r["region"] == "east" for r in recs)
    assert [r["time"] for r in recs] == sorted(r["time"] for r in recs) and recs[0]["time"] > 0
    assert problems(recs) == []


def test_info_keeps_value_and_error_and_in_flight_are_closed(tmp_path: Path) -> None:
    out: list[dict] = []
    rec = Recorder(out.append, t0_ns=0, clock=FakeClock())
    rec.invoke(0, "write", "k1", 5, "west", None)
    rec.complete(0, "info", error="timed out")
    rec.invoke(1, "cas", "k1", [5, 6], "west", None)
    rec.invoke(2, "read", "k1", None, "west", None)
    assert rec.close_in_flight() == 2
    assert out[1] == {**out[1], "type": "info", "value": 5, "error": "timed out"}
    assert {(r["process"], r["type"]) for r in out[-2:]} == {(1, "info"), (2, "info")}
    assert out[-2]["value"] == [5, 6] or out[-1]["value"] == [5, 6]
    with pytest.raises(RuntimeError):
        rec.invoke(3, "read", "k1", None, "west", None)
        rec.invoke(3, "read", "k1", None, "west", None)


@pytest.mark.parametrize(
    "bad, why",
    [
        (
            [{"index": 0, "process": 0, "type": "ok", "f": "read", "key": "k", "time": 1}],
            "without an invoke",
        ),
        (
            [
                {"index": 0, "process": 0, "type": "invoke", "f": "read", "key": "k", "time": 1},
                {"index": 1, "process": 0, "type": "invoke", "f": "read", "key": "k", "time": 2},
            ],
            "outstanding",
        ),
        (
            [
                {"index": 0, "process": 0, "type": "invoke", "f": "write", "key": "k", "time": 1},
                {"index": 1, "process": 0, "type": "info", "f": "write", "key": "k", "time": 2},
                {"index": 2, "process": 0, "type": "invoke", "f": "read", "key": "k", "time": 3},
            ],
            "after an info",
        ),
        (
            [{"index": 3, "process": 0, "type": "invoke", "f": "read", "key": "k", "time": 1}],
            "index 3",
        ),
        (
            [
                {"index": 0, "process": 0, "type": "invoke", "f": "read", "key": "k", "time": 5},
                {"index": 1, "process": 0, "type": "ok", "f": "read", "key": "k", "time": 4},
            ],
            "backwards",
        ),
        (
            [
                {"index": 0, "process": 0, "type": "invoke", "f": "read", "key": "k", "time": 1},
                {"index": 1, "process": 0, "type": "ok", "f": "read", "key": "other", "time": 2},
            ],
            "f/key differ",
        ),
    ],
)
def test_problems_catches_known_bad_histories(bad: list[dict], why: str) -> None:
    errs = problems(bad)
    assert errs and any(why in e for e in errs), errs


def test_merge_of_interleaved_workers_is_time_ordered_and_dense(tmp_path: Path) -> None:
    # two workers' records arrive in batches, out of global time order
    a = [
        {"process": 0, "type": "invoke", "f": "write", "key": "k0", "value": 1, "time": 10},
        {"process": 0, "type": "ok", "f": "write", "key": "k0", "value": 1, "time": 40},
    ]
    b = [
        {"process": 1, "type": "invoke", "f": "read", "key": "k0", "value": None, "time": 20},
        {"process": 1, "type": "ok", "f": "read", "key": "k0", "value": 1, "time": 50},
    ]
    path = tmp_path / "h.jsonl"
    h = HistoryFile(path, start_index=0)
    for r in b + a:
        h.write(dict(r))
    h.close()
    assert rewrite_normalized(path) == 4
    recs = read_records(path)
    assert [r["time"] for r in recs] == [10, 20, 40, 50]
    assert [r["index"] for r in recs] == [0, 1, 2, 3]
    assert problems(recs) == []
    assert scan_history(path) == (4, 2)
    # stable: equal times keep arrival order (invoke before its completion)
    same = normalize([{"time": 5, "type": "invoke"}, {"time": 5, "type": "ok"}])
    assert [r["type"] for r in same] == ["invoke", "ok"]


def test_unique_values_never_collide_across_workers() -> None:
    seen: set[int] = set()
    for slot in range(3):
        u = UniqueValues(slot=slot, stride=3)
        vals = [u.next() for _ in range(200)]
        assert min(vals) >= 1
        assert not seen & set(vals)
        seen |= set(vals)
    late = UniqueValues(slot=5, stride=3)  # a reconnected worker beyond the planned count
    assert not seen & {late.next() for _ in range(200)}


def test_workloads_choose_valid_ops_with_unique_writes() -> None:
    spec = WorkloadSpec("cas-register", keys=3, read_ratio=0.3, cas_ratio=0.3)
    wl = Workload(spec, UniqueValues(), random.Random(1))
    seen_f, written = set(), []
    for _ in range(500):
        f, key, value = wl.next_op()
        seen_f.add(f)
        assert key in ("k0", "k1", "k2")
        if f == "write":
            written.append(value)
        if f == "cas":
            assert value[0] == wl.last_read[key]
            written.append(value[1])
        wl.observe(f, key, "ok", 42 if f == "read" else value)
    assert seen_f == {"read", "write", "cas"}
    assert len(written) == len(set(written))
    s = Workload(WorkloadSpec("set", keys=2, read_ratio=0.2), UniqueValues(), random.Random(2))
    ops = [s.next_op() for _ in range(200)]
    assert {f for f, _, _ in ops} == {"add", "read-all"}
    adds = [v for f, _, v in ops if f == "add"]
    assert len(adds) == len(set(adds))
    assert final_ops("set", 2) == [("read-all", "k0", None), ("read-all", "k1", None)]
    assert final_ops("register", 1) == [("read", "k0", None)]


def _plan(tmp_path: Path, **kw) -> LoadPlan:
    p = LoadPlan(
        system_kind="geokv",
        system_options={},
        views={"east": {"n1": {"http": "127.0.0.1:1"}}},
        users={"east": 2},
        workload=WorkloadSpec(),
        t0_ns=0,
        out_dir=tmp_path,
    )
    for k, v in kw.items():
        setattr(p, k, v)
    return p


@pytest.mark.parametrize(
    "change, field",
    [
        ({"workload": WorkloadSpec(workload="queue")}, "workload.workload"),
        ({"workload": WorkloadSpec(rate=-1)}, "workload.rate"),
        (
            {"workload": WorkloadSpec(read_ratio=0.8, cas_ratio=0.5)},
            "read_ratio + workload.cas_ratio",
        ),
        ({"users": {"west": 1}}, "users.west"),
        ({"views": {"east": {"n1": {"http": "nohostport"}}}}, "views.east.n1.http"),
        ({"workers": -1}, "workers"),
    ],
)
def test_bad_plans_name_the_field(tmp_path: Path, change: dict, field: str) -> None:
    with pytest.raises(PlanError, match=field.replace("+", r"\+")):
        _plan(tmp_path, **change).validate()


def test_plan_roundtrips_through_json(tmp_path: Path) -> None:
    p = _plan(tmp_path, workload=WorkloadSpec(rate=50, rate_per_region={"east": 20}))
    p.validate()
    p.write(tmp_path / "plan.json")
    q = LoadPlan.read(tmp_path / "plan.json")
    assert q == p
    assert q.region_rate("east") == 20
    assert (
        json.loads((tmp_path / "plan.json").read_text())["views"]["east"]["n1"]["http"]
        == "127.0.0.1:1"
    )


def test_repair_drops_a_torn_line_and_closes_open_invokes(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = [
        {
            "index": 0,
            "process": 0,
            "type": "invoke",
            "f": "write",
            "key": "k0",
            "value": 1,
            "time": 5,
        },
        {
            "index": 1,
            "process": 1,
            "type": "invoke",
            "f": "read",
            "key": "k0",
            "value": None,
            "time": 6,
        },
        {
            "index": 2,
            "process": 1,
            "type": "ok",
            "f": "read",
            "key": "k0",
            "value": None,
            "time": 7,
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"index": 3, "proc')
    with pytest.raises(ValueError, match="h.jsonl:4"):
        read_records(path)
    assert rewrite_normalized(path, "killed", now=100) == 4
    recs = read_records(path)
    assert problems(recs) == []
    assert recs[-1] == {
        "index": 3, "process": 0, "f": "write", "key": "k0", "value": 1, "type": "info", "time": 100, "error": "killed",
    }  # fmt: skip


@pytest.mark.parametrize(
    "content, args, message",
    [
        (None, ["--role", "local"], "needs --plan"),
        ("{not json", [], "plan.json:1: not JSON"),
        ('{"system_kind": "geokv"}', [], "missing or unexpected field"),
        (None, ["--role", "worker"], "needs --master-port"),
        ("MISSING", [], "cannot read the load plan"),
    ],
)
def test_runner_usage_errors_exit_2_and_say_what_is_wrong(
    tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "chaoskit.load.runner", *args]
    if content is not None:
        plan = tmp_path / "plan.json"
        if content != "MISSING":
            plan.write_text(content)
        cmd += ["--plan", str(plan)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_runner_names_the_bad_field_of_a_plan(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = _plan(tmp_path, workload=WorkloadSpec(workload="queue"))
    p.write(tmp_path / "plan.json")
    r = subprocess.run(
        [sys.executable, "-m", "chaoskit.load.runner", "--plan", str(tmp_path / "plan.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert (
        "plan.json: workload.workload: 'queue' is not one of register, cas-register, set"
        in r.stderr
    )


def test_state_changing_invoke_is_on_disk_before_the_request_goes_out(tmp_path: Path) -> None:
    # Buffered writes may only lose reads and completions (repaired to info) if the
    # writer is killed: an invoke that can change state must already be in the file,
    # with everything recorded before it, when write() returns.
    path = tmp_path / "h.jsonl"
    h = HistoryFile(path, start_index=0)
    rec = Recorder(h.write, t0_ns=0, clock=FakeClock())
    rec.invoke(0, "read", "k0", None, "east", None)
    rec.complete(0, "ok", 3)
    rec.invoke(1, "write", "k0", 9, "east", None)
    on_disk = read_records(path)  # read while the file is still open
    assert [(r["process"], r["type"], r["f"]) for r in on_disk] == [
        (0, "invoke", "read"),
        (0, "ok", "read"),
        (1, "invoke", "write"),
    ]
    rec.complete(1, "ok")
    h.flush()
    assert len(read_records(path)) == 4
    h.close()
    assert problems(read_records(path)) == []


@pytest.mark.parametrize(
    "rec",
    [
        # the common shape (one format string)
        {
            "process": 3,
            "type": "invoke",
            "f": "write",
            "key": "k3",
            "value": 12,
            "time": 9,
            "region": "r1",
            "node": "r1-1",
        },
        {
            "process": 3,
            "type": "ok",
            "f": "cas",
            "key": 'k\u00e9"\n',
            "value": [1, None, 2.5, True],
            "time": -5,
            "region": "z\u00fcrich",
            "node": None,
        },
        # a bool is not an int; a set value is a list; other shapes field by field
        {
            "process": True,
            "type": "ok",
            "f": "read",
            "key": None,
            "value": {"a": [1]},
            "time": 1,
            "region": "r",
            "node": "n",
        },
        {
            "index": 4,
            "process": 3,
            "type": "info",
            "f": "write",
            "key": "k",
            "value": 2**70,
            "time": 7,
            "region": "r",
            "node": None,
            "error": "x\ty",
            "phase": "final",
        },
        {
            "process": 1,
            "type": "ok",
            "f": "txn",
            "key": None,
            "value": [["r", "k", None], ["append", "k", [1, 2]]],
            "time": 2,
            "ok": False,
            "x": 1e300,
        },
        {},
    ],
)
def test_history_lines_are_the_json_encoders_text(tmp_path: Path, rec: dict) -> None:
    path = tmp_path / "h.jsonl"
    h = HistoryFile(path, start_index=5)
    assert h.write(dict(rec)) == 5
    h.close()
    expected = {"index": 5, **{k: v for k, v in rec.items() if k != "index"}}
    line = path.read_text()
    assert line == json.dumps(expected, separators=(",", ":")) + "\n"
    assert json.loads(line) == expected
