"""`chaoskit check` end to end (a real subprocess for the front door, click's
runner for the rest), and the HTML visualisation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.checker import check_linearizable, read_history, render_html
from chaoskit.checker.cli import check

GOOD = [
    {"index": 0, "process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 10},
    {"index": 1, "process": 0, "type": "ok", "f": "write", "key": "k", "value": 1, "time": 20},
    {
        "index": 2,
        "process": 1,
        "type": "invoke",
        "f": "read",
        "key": "k",
        "value": None,
        "time": 30,
    },
    {"index": 3, "process": 1, "type": "ok", "f": "read", "key": "k", "value": 1, "time": 40},
]
BAD = GOOD[:3] + [{**GOOD[3], "value": 2}]
# 30 concurrent writes of 0/1 completing after 40 reads alternating 0 and 1:
# too big for a 0 s budget (see test_checker_known._hard_history).
HARD = [
    {"process": p, "type": "invoke", "f": "write", "key": "k", "value": p % 2} for p in range(30)
]
for j in range(40):
    HARD += [
        {"process": 100 + j, "type": "invoke", "f": "read", "key": "k", "value": None},
        {"process": 100 + j, "type": "ok", "f": "read", "key": "k", "value": j % 2},
    ]
HARD += [{"process": p, "type": "ok", "f": "write", "key": "k", "value": p % 2} for p in range(30)]
for n, r in enumerate(HARD):
    r["index"] = n


def _file(tmp_path: Path, name: str, records: list[dict]) -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in records))
    return p


def test_front_door_subprocess(tmp_path: Path) -> None:
    good = _file(tmp_path, "good.jsonl", GOOD)
    bad = _file(tmp_path, "bad.jsonl", BAD)
    env = {**os.environ}
    cmd = [sys.executable, "-m", "chaoskit.cli", "check"]
    # chaoskit.cli has no __main__ guard; call main() explicitly
    cmd = [sys.executable, "-c", "from chaoskit.cli import main; main()", "check"]
    p = subprocess.run([*cmd, str(good)], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert re.search(r"good.jsonl: linearizable \(model register, 2 ops", p.stdout)
    p = subprocess.run(
        [*cmd, str(good), str(bad)], capture_output=True, text=True, env=env, timeout=60
    )
    assert p.returncode == 1
    assert "bad.jsonl: not-linearizable" in p.stdout
    assert "read 2, a value no operation on this key ever writes" in p.stdout
    assert "total: 2 file(s): 1 linearizable, 1 not linearizable" in p.stdout


def test_exit_codes(tmp_path: Path) -> None:
    run = CliRunner().invoke
    good = _file(tmp_path, "good.jsonl", GOOD)
    hard = _file(tmp_path, "hard.jsonl", HARD)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({**GOOD[1], "index": 0}) + "\n")
    r = run(check, [str(good), str(hard), "--timeout", "0s"])
    assert r.exit_code == 3, r.output
    assert "hard.jsonl: unknown" in r.output and "time limit" in r.output
    r = run(check, [str(broken)])
    assert r.exit_code == 2
    assert "broken.jsonl:1: ok completion" in r.output and "without an invocation" in r.output
    r = run(check, [str(good), "--timeout", "soon"])
    assert r.exit_code == 2 and "not a duration" in r.output
    assert "--timeout" in r.output, "the error names the option"
    r = run(check, [str(tmp_path / "missing.jsonl")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = run(check, [str(good), "--model", "queue"])
    assert r.exit_code == 2


def test_directory_json_initial_and_html(tmp_path: Path) -> None:
    d = tmp_path / "hist"
    d.mkdir()
    _file(d, "a.jsonl", GOOD)
    _file(d, "b.jsonl", BAD)
    init0 = [
        {**GOOD[2], "index": 0, "process": 5},
        {**GOOD[3], "index": 1, "process": 5, "value": 0},
    ]
    _file(d, "c.jsonl", init0)
    out = tmp_path / "html"
    r = CliRunner().invoke(check, [str(d), "--json", "--initial", "0", "--html", str(out)])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.output)
    verdicts = {Path(f["path"]).name: f["verdict"] for f in doc["files"]}
    # with --initial 0, a.jsonl is still fine (write 1 then read 1), c.jsonl reads 0
    assert verdicts == {
        "a.jsonl": "linearizable",
        "b.jsonl": "not-linearizable",
        "c.jsonl": "linearizable",
    }
    assert doc["total"]["not-linearizable"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.html", "b.html", "c.html"]


def test_run_directory_means_its_history_only(tmp_path: Path) -> None:
    # Regression: `chaoskit check results/<exp>/<ts>` used to read every file of the
    # run (check.json, report.html, locust CSVs ...) as a history and exit 2.
    run_dir = tmp_path / "results" / "exp" / "20260101T000000Z"
    run_dir.mkdir(parents=True)
    _file(run_dir, "history.jsonl", GOOD)
    (run_dir / "check.json").write_text('{"passed": true}\n')
    (run_dir / "report.html").write_text("<html></html>\n")
    (run_dir.parent / "latest").symlink_to(run_dir.name)
    for target in (run_dir, run_dir.parent):  # a run, and an experiment (its latest run)
        r = CliRunner().invoke(check, [str(target)])
        assert r.exit_code == 0, r.output
        assert "history.jsonl: linearizable" in r.output
        assert "total: 1 file(s)" in r.output


def test_record_without_type_says_missing(tmp_path: Path) -> None:
    f = _file(tmp_path, "h.jsonl", [GOOD[0], {"index": 1, "process": 0, "f": "write"}])
    r = CliRunner().invoke(check, [str(f)])
    assert r.exit_code == 2
    assert "h.jsonl:2: field 'type' is missing; valid: invoke, ok, fail, info" in r.output


def test_lost_writes_and_export(tmp_path: Path) -> None:
    good = _file(tmp_path, "good.jsonl", GOOD)
    edn = tmp_path / "out.edn"
    r = CliRunner().invoke(check, [str(good), "--lost-writes", "--export-edn", str(edn)])
    assert r.exit_code == 0, r.output
    assert "lost writes: no acknowledged writes lost (1 acknowledged)" in r.output
    assert edn.read_text().startswith("[{:index 0, :process 0, :type :invoke, :f :write")


def test_html_is_self_contained_and_highlights(tmp_path: Path) -> None:
    bad = _file(tmp_path, "bad.jsonl", BAD)
    h = read_history(bad)
    res = check_linearizable(h, "register")
    out = tmp_path / "v.html"
    render_html(h, res, out)
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text and "not-linearizable" in text
    assert text.count('class="op ok failing"') == 1
    assert 'class="op ok conflict"' in text  # the write it conflicts with
    # nothing fetched from anywhere when opened
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text)
    assert "@import" not in text and "url(http" not in text


@pytest.mark.parametrize("n", [6000])
def test_html_of_big_history_is_bounded(tmp_path: Path, n: int) -> None:
    from chaoskit.testing.histories import history_of

    ev = []
    for i in range(n):
        ev += [
            (i % 20, "invoke", "write", i, f"k{i % 10}"),
            (i % 20, "ok", "write", i, f"k{i % 10}"),
        ]
    h = history_of(ev)
    out = tmp_path / "big.html"
    render_html(h, None, out)
    text = out.read_text()
    assert text.count('<rect class="op') == 4000
    assert "Showing the first 4000 of 6000 operations" in text


def test_html_opens_in_chromium_with_failing_key_selected(tmp_path: Path, need_chromium) -> None:
    # The page really renders and its inline JS runs offline: the key filter is
    # preset to the failing key, so the other key's bars are dimmed, while the
    # failing read and its conflicting writes stay highlighted.
    from helpers import chromium

    from chaoskit.testing.histories import history_of

    ev = [
        (0, "invoke", "write", 1, "a"),
        (1, "invoke", "write", 1, "b"),
        (0, "ok", "write", 1, "a"),
        (1, "ok", "write", 1, "b"),
        (2, "invoke", "read", None, "a"),
        (3, "invoke", "write", 2, "b"),
        (2, "ok", "read", 1, "a"),
        (3, "ok", "write", 2, "b"),
        (4, "invoke", "read", None, "b"),
        (4, "ok", "read", 1, "b"),  # stale: 2 was written before this read began
    ]
    h = history_of(ev)
    res = check_linearizable(h, "register")
    assert res.verdict == "not-linearizable" and res.failing_key == "b"
    page = tmp_path / "v.html"
    render_html(h, res, page)
    p = chromium(page.as_uri(), tmp_path / "profile", "--dump-dom", "--virtual-time-budget=2000")
    dom = p.stdout
    assert "<svg" in dom, p.stderr[-2000:]
    classes = re.findall(r'<rect class="(op [^"]*)"[^>]*data-k="([^"]*)"', dom)
    assert len(classes) == 5, dom[-3000:]
    # the file itself dims nothing: the script did
    assert "dim" not in " ".join(re.findall(r'<rect class="(op [^"]*)"', page.read_text()))
    # key "a" (2 bars) dimmed; key "b" (3 bars) not
    assert sorted(k for c, k in classes if "dim" in c) == ["&quot;a&quot;"] * 2, classes
    assert [c for c, _ in classes].count("op ok failing") == 1, classes
    assert sum("conflict" in c and "dim" not in c for c, _ in classes) >= 1, classes


def test_export_edn_independent_for_knossos(tmp_path: Path) -> None:
    import edn_format

    two_keys = GOOD + [
        {**r, "index": r["index"] + 4, "process": r["process"] + 2, "key": "j", "value": v}
        for r, v in zip(GOOD, [7, 7, None, 7], strict=True)
    ]
    src = _file(tmp_path, "two.jsonl", two_keys)
    edn = tmp_path / "two.edn"
    run = CliRunner().invoke
    r = run(check, [str(src), "--export-edn", str(edn), "--edn-independent"])
    assert r.exit_code == 0, r.output
    ops = edn_format.loads(edn.read_text())
    K = edn_format.Keyword
    values = [tuple(op[K("value")]) for op in ops]
    assert values[:2] == [("k", 1), ("k", 1)] and values[-1] == ("j", 7)
    assert all(K("key") not in op for op in ops)
    # plain export keeps :key as a field; the flag alone is a usage error
    r = run(check, [str(src), "--export-edn", str(edn)])
    assert r.exit_code == 0 and edn_format.loads(edn.read_text())[-1][K("key")] == "j"
    r = run(check, [str(src), "--edn-independent"])
    assert r.exit_code == 2 and "--edn-independent needs --export-edn" in r.output


def test_nothing_checked_is_unknown_not_a_pass(tmp_path: Path) -> None:
    """No operation completed ok: exit 3 and "nothing was checked", never a
    linearizable verdict; --allow-empty accepts only a file with no operations."""
    empty = _file(tmp_path, "empty.jsonl", [])
    pending = _file(tmp_path, "pending.jsonl", [GOOD[0], {**GOOD[2], "index": 1}])
    failed = _file(
        tmp_path, "failed.jsonl", [GOOD[0], {**GOOD[1], "type": "fail"}, {**GOOD[2], "index": 2}]
    )
    runner = CliRunner()
    for path in (empty, pending, failed):
        r = runner.invoke(check, [str(path)])
        assert r.exit_code == 3, r.output
        assert "nothing was checked" in r.output
        assert f"{path}: unknown" in r.output and "linearizable (" not in r.output
    r = runner.invoke(check, [str(empty), "--allow-empty"])
    assert r.exit_code == 0, r.output
    assert "accepted by --allow-empty" in r.output
    for path in (pending, failed):
        r = runner.invoke(check, [str(path), "--allow-empty"])
        assert r.exit_code == 3, r.output
    doc = json.loads(runner.invoke(check, [str(pending), "--json"]).output)
    assert doc["files"][0]["verdict"] == "unknown"
    assert (
        "no operation completed ok (2 op(s): 0 failed, 2 indeterminate)"
        in doc["files"][0]["reason"]
    )
    # one real verdict next to an empty file does not make the total a pass
    good = _file(tmp_path, "good.jsonl", GOOD)
    assert runner.invoke(check, [str(good), str(empty)]).exit_code == 3
    assert runner.invoke(check, [str(good)]).exit_code == 0
