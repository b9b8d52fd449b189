"""The local backend on real processes: logs, stop escalation, pause, kill, the pid
registry, leftovers of a crashed harness, and libfaketime clock skew."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import alive, proc_state

from chaoskit.backends.base import NodeSpec
from chaoskit.backends.local import (
    LocalBackend,
    StartError,
    cleanup_local_leftovers,
)
from chaoskit.units import format_offset


def _script(tmp_path: Path, name: str, body: str) -> str:
    p = tmp_path / f"{name}.py"
    p.write_text(textwrap.dedent(body))
    return str(p)


@pytest.fixture
def backend(tmp_path: Path):
    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    be._write_owner()
    yield be
    be.down()


def test_node_logs_and_stop(backend: LocalBackend, tmp_path: Path) -> None:
    s = _script(
        tmp_path, "hello", "import time\nprint('hello from node', flush=True)\ntime.sleep(60)\n"
    )
    backend.start_node("n1", NodeSpec(argv=["python3", s]))
    pid = backend.pid("n1")
    assert pid and alive(pid)
    reg = backend.registry / "pids" / "n1.json"
    assert reg.exists(), "every process is in the pid registry while it runs"
    deadline = time.monotonic() + 5
    while (
        "hello from node" not in backend.node_log("n1").read_text() and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert "hello from node" in backend.node_log("n1").read_text()
    backend.stop_node("n1", grace_s=5)
    assert not backend.is_running("n1") and not alive(pid)
    assert not reg.exists()


def test_stop_escalates_to_sigkill(backend: LocalBackend, tmp_path: Path) -> None:
    # Like an etcd leader without peers: SIGTERM is ignored; stop must not hang.
    s = _script(
        tmp_path,
        "stubborn",
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)\n",
    )
    backend.start_node("n1", NodeSpec(argv=["python3", s]))
    deadline = time.monotonic() + 5
    while "up" not in backend.node_log("n1").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = backend.pid("n1")
    t = time.monotonic()
    backend.stop_node("n1", grace_s=0.5)
    took = time.monotonic() - t
    assert not alive(pid)
    assert 0.4 < took < 5, f"SIGTERM grace then SIGKILL, took {took:.2f} s"


def test_pause_resume_kill(backend: LocalBackend, tmp_path: Path) -> None:
    s = _script(tmp_path, "sleeper", "import time\ntime.sleep(60)\n")
    backend.start_node("n1", NodeSpec(argv=["python3", s]))
    pid = backend.pid("n1")
    backend.pause_node("n1")
    time.sleep(0.1)
    assert proc_state(pid) == "T", "SIGSTOP leaves the process stopped"
    backend.resume_node("n1")
    time.sleep(0.1)
    assert proc_state(pid) in ("S", "R")
    backend.kill_node("n1")
    assert not alive(pid) and not backend.is_running("n1")
    # restart works after a kill, with the log appended
    backend.start_node("n1", NodeSpec(argv=["python3", s]))
    assert backend.is_running("n1") and backend.pid("n1") != pid
    assert backend.node_log("n1").read_text().count("chaoskit: starting n1") == 2


def test_paused_node_is_stopped_by_down(tmp_path: Path) -> None:
    be = LocalBackend(tmp_path / "run", registry_root=tmp_path / "registry")
    s = _script(tmp_path, "sleeper", "import time\ntime.sleep(60)\n")
    be.start_node("n1", NodeSpec(argv=["python3", s]))
    be.start_node("n2", NodeSpec(argv=["python3", s]))
    pids = list(be.pids().values())
    be.pause_node("n1")
    t = time.monotonic()
    be.down()
    assert time.monotonic() - t < 5
    assert not any(alive(p) for p in pids)
    assert not be.registry.exists(), "down() removes the run's registry"
    be.down()  # idempotent


def test_start_failure_names_node_and_shows_log(backend: LocalBackend, tmp_path: Path) -> None:
    s = _script(
        tmp_path, "broken", "import sys\nprint('cannot bind port 1234', flush=True)\nsys.exit(4)\n"
    )
    try:
        backend.start_node("bad-node", NodeSpec(argv=["python3", s]))
    except StartError as e:  # it died within start_node's first look
        msg = str(e)
    else:  # it died a little later: what the engine says when readiness fails
        deadline = time.monotonic() + 5
        while backend.is_running("bad-node") and time.monotonic() < deadline:
            time.sleep(0.05)
        msg = backend.describe_failure("bad-node", "did not become ready")
        assert "exited with code 4" in msg
    assert "bad-node" in msg and "cannot bind port 1234" in msg


def test_data_dir_substitution_and_clean(backend: LocalBackend, tmp_path: Path) -> None:
    s = _script(
        tmp_path,
        "writer",
        "import sys, pathlib, time\npathlib.Path(sys.argv[1], 'x').write_text('1')\ntime.sleep(60)\n",
    )
    backend.start_node("n1", NodeSpec(argv=["python3", s, "{data_dir}"]))
    time.sleep(0.5)
    assert (backend.data_dir("n1") / "x").exists()
    backend.kill_node("n1")
    (backend.data_dir("n1") / "stale").write_text("old")
    backend.start_node("n1", NodeSpec(argv=["python3", s, "{data_dir}"], clean_data=True))
    assert not (backend.data_dir("n1") / "stale").exists()


def test_cleanup_leftovers_of_a_crashed_harness(tmp_path: Path) -> None:
    """A harness SIGKILLed mid-run leaves nodes; cleanup_local_leftovers finds and kills them."""
    registry = tmp_path / "registry"
    harness = _script(
        tmp_path,
        "harness",
        f"""
        import time
        from pathlib import Path
        from chaoskit.backends.base import NodeSpec
        from chaoskit.backends.local import LocalBackend
        be = LocalBackend(Path({str(tmp_path / "run")!r}), run_id="crashed", registry_root=Path({str(registry)!r}))
        be._write_owner()
        for n in ("a", "b"):
            be.start_node(n, NodeSpec(argv=["python3", "-c", "import time; time.sleep(120)"]))
        print(" ".join(str(p) for p in be.pids().values()), flush=True)
        time.sleep(120)
        """,
    )
    p = subprocess.Popen([sys.executable, harness], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(x) for x in p.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(x) for x in pids)
        # A live owner is left alone (another run on this machine).
        assert cleanup_local_leftovers(registry) == []
        assert all(alive(x) for x in pids)
        p.send_signal(signal.SIGKILL)
        p.wait(5)
        done = cleanup_local_leftovers(registry)
        assert len(done) == 2, done
        deadline = time.monotonic() + 5
        while any(alive(x) for x in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(x) for x in pids)
        assert not (registry / "crashed").exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for x in pids if "pids" in dir() else []:
            try:
                os.kill(x, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_format_offset() -> None:
    assert format_offset(500) == "+0.5"
    assert format_offset(-2000) == "-2"
    assert format_offset(0) == "+0"


def test_clock_skew_is_visible(backend: LocalBackend, tmp_path: Path, need_faketime: None) -> None:
    out = tmp_path / "clock.txt"
    s = _script(
        tmp_path,
        "clock",
        f"""
        import time, pathlib
        p = pathlib.Path({str(out)!r})
        while True:
            tmp = p.with_suffix('.tmp'); tmp.write_text(repr(time.time())); tmp.replace(p)
            time.sleep(0.05)
        """,
    )
    backend.start_node("n1", NodeSpec(argv=["python3", s], faketime=True))

    def skew() -> float:
        deadline = time.monotonic() + 5
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a fresh sample after the last change
        return float(out.read_text()) - time.time()

    assert abs(skew()) < 1.0
    backend.set_clock_offset("n1", -5000)
    assert -6.0 < skew() < -4.0, "the node's clock runs 5 s behind"
    backend.set_clock_offset("n1", 3600_000)
    assert 3598 < skew() < 3601
    backend.set_clock_offset("n1", None)
    assert abs(skew()) < 1.0
    with pytest.raises(RuntimeError, match="libfaketime"):
        backend.start_node("n2", NodeSpec(argv=["python3", s]))
        backend.set_clock_offset("n2", 1000)


def test_relative_results_root_gives_nodes_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `chaoskit run` defaults to `--results results`; a node runs in its data
    # directory, so a relative {data_dir} would point below itself
    monkeypatch.chdir(tmp_path)
    be = LocalBackend(Path("results") / "run", registry_root=tmp_path / "registry")
    be._write_owner()
    try:
        s = _script(
            tmp_path,
            "writer",
            "import sys, pathlib, time\npathlib.Path(sys.argv[1], 'x').write_text('1')\n"
            "time.sleep(60)\n",
        )
        be.start_node("n1", NodeSpec(argv=["python3", s, "{data_dir}"]))
        deadline = time.monotonic() + 10
        while not (tmp_path / "results/run/data/n1/x").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "results/run/data/n1/x").read_text() == "1"
    finally:
        be.down()
