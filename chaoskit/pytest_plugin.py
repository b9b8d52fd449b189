"""chaoskit's pytest plugin (entry point ``pytest11: chaoskit``). See docs/pytest.md.

Experiment YAMLs as test items
    ``pytest experiments/`` runs every experiment file there (a YAML mapping with
    top-level ``name`` and ``topology``) as one test; a failed bound fails the test
    with which bound, which region, the numbers, and where the results are. YAML
    files are collected only from paths given on the command line or matching the
    ``chaoskit_experiments`` ini globs, never from the configured ``testpaths``
    (a plain ``pytest`` keeps running the project's own suite only).

Fixtures for tests in Python
    ``chaoskit_cluster`` (module scope; the module names ``chaoskit_experiment`` =
    a YAML path relative to the test file, or a dict/YAML text written inline),
    ``chaoskit`` (session: ``chaoskit.cluster(source)`` for clusters of any scope),
    ``faults`` (``with faults.cut_region("beijing"): ...``; healed after each test),
    ``load`` (``with load.run(rate=200) as run: ...``; ``run.history`` afterwards),
    and ``assert_linearizable(history, model=...)``.

Options: ``--chaoskit-backend``, ``--chaoskit-results``; experiment items on the
docker backend are marked ``docker`` (``-m "not docker"``).

This module must import fast and must never import Locust or gevent (Locust
monkey-patches the process): everything heavy is imported inside functions.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

RESULTS_KEY = "chaoskit_results"
PYTEST_SOURCE = "pytest"  # events.jsonl `source` of faults applied from tests
_MAX_SNIFF_BYTES = 1 << 20


# -- options -----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("chaoskit", "chaoskit experiments and fixtures")
    g.addoption(
        "--chaoskit-backend",
        choices=("local", "docker"),
        default=None,
        help="run every experiment and fixture cluster on this backend (default: the experiment's)",
    )
    g.addoption(
        "--chaoskit-results",
        default=None,
        metavar="DIR",
        help="results root for experiment items and fixture clusters (default: ini "
        "chaoskit_results, else ./results)",
    )
    parser.addini(
        "chaoskit_experiments",
        type="linelist",
        default=[],
        help="globs (relative to rootdir) of experiment YAMLs to collect even when not named "
        "on the command line, e.g. experiments/*.yaml",
    )
    parser.addini("chaoskit_results", default="", help="results root (see --chaoskit-results)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker engine")
    config.addinivalue_line(
        "markers", "chaoskit_experiment: a chaoskit experiment YAML collected as a test"
    )


def results_root(config: pytest.Config) -> Path:
    opt = config.getoption("--chaoskit-results") or config.getini("chaoskit_results")
    base = Path(config.invocation_params.dir)
    return (base / opt) if opt else base / "results"


# -- collection of experiment YAMLs ---------------------------------------------------------


def _explicit_paths(config: pytest.Config) -> list[Path]:
    cached = getattr(config, "_chaoskit_explicit", None)
    if cached is not None:
        return cached
    out: list[Path] = []
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        base = Path(config.invocation_params.dir)
        for a in config.args:
            p = (base / a.split("::", 1)[0]).resolve()
            out.append(p)
    config._chaoskit_explicit = out  # type: ignore[attr-defined]
    return out


def _under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _wanted(config: pytest.Config, path: Path) -> bool:
    path = path.resolve()
    root = Path(config.rootpath).resolve()
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = None
    if rel is not None:
        for pat in config.getini("chaoskit_experiments"):
            if fnmatch.fnmatch(rel, pat):
                return True
    testpaths = [(root / t).resolve() for t in (config.getini("testpaths") or [])]
    for arg in _explicit_paths(config):
        if path == arg:
            return True  # named on the command line: always
        if arg.is_dir() and _under(path, arg):
            # `pytest .` must not turn the project's own tests/ data into experiments
            if any(_under(path, t) and not _under(arg, t) for t in testpaths):
                continue
            return True
    return False


def _sniff(path: Path) -> dict[str, Any] | None:
    """The top-level mapping if the file looks like a chaoskit experiment."""
    try:
        if path.stat().st_size > _MAX_SNIFF_BYTES:
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if "topology" not in text or "name" not in text:
        return None
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        # broken YAML that still names a topology: collect it, so the error is shown
        return {"name": path.stem, "topology": None} if "\ntopology:" in text else None
    if isinstance(doc, dict) and "name" in doc and "topology" in doc:
        return doc
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if not _wanted(parent.config, file_path):
        return None
    doc = _sniff(file_path)
    if doc is None:
        return None
    return ExperimentFile.from_parent(parent, path=file_path, doc=doc)


class ExperimentFile(pytest.File):
    def __init__(self, *, doc: dict[str, Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.doc = doc

    def collect(self) -> Iterator[pytest.Item]:
        name = str(self.doc.get("name") or self.path.stem)
        item = ExperimentItem.from_parent(self, name=name)
        backend = self.config.getoption("--chaoskit-backend") or self.doc.get("backend")
        if backend == "docker":
            item.add_marker(pytest.mark.docker)
        item.add_marker(pytest.mark.chaoskit_experiment)
        yield item


class ExperimentFailed(Exception):
    """A run whose bounds failed or that broke; repr_failure renders it."""

    def __init__(self, account: str) -> None:
        super().__init__(account)
        self.account = account


class ExperimentItem(pytest.Item):
    def runtest(self) -> None:
        from chaoskit.engine import run_experiment
        from chaoskit.experiment import load_experiment

        experiment = load_experiment(self.path)  # ExperimentError: file:line, shown as is
        backend = self.config.getoption("--chaoskit-backend")
        result = run_experiment(
            experiment,
            results_root(self.config),
            backend=backend,
            quiet=True,
            install_signals=False,  # pytest owns Ctrl-C; teardown runs in the engine's finally
        )
        if result.run_dir is not None:
            self.user_properties.append((RESULTS_KEY, str(result.run_dir)))
        account = _account(experiment, result)
        if result.exit_code != 0:
            raise ExperimentFailed(account)  # shown by repr_failure
        self.add_report_section("call", "chaoskit", account)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from chaoskit.experiment import ExperimentError

        if isinstance(excinfo.value, ExperimentFailed):
            return excinfo.value.account
        if isinstance(excinfo.value, ExperimentError):
            return f"{self.path}: not a valid experiment:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"chaoskit experiment {self.name}"


def _account(experiment: Any, result: Any) -> str:
    """A readable account of a run: verdict, each failed bound with its numbers, where."""
    verdict = {0: "PASSED: every bound held", 1: "FAILED: a bound failed"}.get(
        result.exit_code, "BROKEN: the run did not complete"
    )
    lines = [f"chaoskit experiment {experiment.name!r}: {verdict}"]
    rep = result.checks
    checks = rep.results if rep is not None else []
    if checks:
        for c in checks:
            mark = "ok  " if c.passed else "FAIL"
            where = ", ".join(
                f"{k} {v}"
                for k, v in (("region", c.region), ("phase", c.phase))
                if v not in (None, "")
            )
            nums = []
            if c.observed is not None:
                nums.append(f"observed {c.observed}")
            if c.bound is not None:
                nums.append(f"bound {c.bound}")
            extra = (
                f" [{'; '.join([where, *nums]) if where else '; '.join(nums)}]"
                if (where or nums)
                else ""
            )
            msg = c.message if str(c.message).startswith(c.check) else f"{c.check}: {c.message}"
            lines.append(f"  {mark} {msg}{extra}")
    else:
        failures = getattr(rep, "failures", None)
        if failures is None and isinstance(rep, dict):
            failures = rep.get("failures")
        for f in failures or []:
            lines.append(f"  FAIL {f}")
    if result.error:
        lines.append(f"  error: {result.error}")
    if result.run_dir is not None:
        lines.append(f"  results: {result.run_dir}")
        for f in ("report.html", "summary.md", "check.json", "error.txt"):
            if (Path(result.run_dir) / f).exists():
                lines.append(f"    {f}: {Path(result.run_dir) / f}")
    return "\n".join(lines)


# -- fixtures: a cluster, faults, load --------------------------------------------------------


def _experiment_from(source: Any, base_dir: Path | None, name: str) -> Any:
    """A validated Experiment from a YAML path, YAML text, or a dict (inline topology)."""
    import yaml

    from chaoskit.experiment import load_experiment, load_experiment_text

    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    ):
        p = Path(source)
        if not p.is_absolute() and base_dir is not None and (base_dir / p).exists():
            p = base_dir / p
        return load_experiment(p)
    if isinstance(source, dict):
        doc = dict(source)
        doc.setdefault("name", name)
        if "topology" not in doc:
            raise pytest.UsageError(
                f"{name}: an inline chaoskit experiment needs a `topology` (regions and clients)"
            )
        doc.setdefault("system", {"kind": "geokv", "mode": "quorum"})
        return load_experiment_text(yaml.safe_dump(doc, sort_keys=False), name=f"<{name}>")
    if isinstance(source, str):
        return load_experiment_text(source, name=f"<{name}>")
    raise pytest.UsageError(
        f"{name}: chaoskit_experiment must be a YAML path, YAML text or a dict; got {type(source).__name__}"
    )


class ChaosCluster:
    """A running topology for tests: the engine's Cluster plus faults and load."""

    def __init__(self, live: Any) -> None:
        self.live = live
        self.faults = Faults(live)
        self.load = Load(live)

    @property
    def experiment(self) -> Any:
        return self.live.experiment

    @property
    def topology(self) -> Any:
        return self.live.experiment.topology

    @property
    def cluster(self) -> Any:
        return self.live.cluster

    @property
    def run_dir(self) -> Path:
        return self.live.run_dir

    def client(self, region: str, timeout_s: float = 2.0) -> Any:
        return self.live.cluster.client(region, timeout_s)

    def pids(self) -> dict[str, int]:
        """Node name -> pid (local backend), for tests that check nothing is left."""
        return dict(self.live.cluster.backend.pids())


class ChaoskitFactory:
    """Session fixture `chaoskit`: clusters with any scope you like."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @contextmanager
    def cluster(
        self,
        source: Any,
        *,
        name: str = "pytest",
        base_dir: Path | None = None,
        backend: str | None = None,
    ) -> Iterator[ChaosCluster]:
        """Bring a topology up (from a YAML path, YAML text or a dict); on exit (also
        when the test failed) heal every fault, stop the load and every process."""
        from chaoskit.gameday.live import LiveRun

        exp = _experiment_from(source, base_dir, name)
        live = LiveRun(
            exp,
            results_root(self.config),
            backend=backend or self.config.getoption("--chaoskit-backend"),
        )
        live.up()
        try:
            yield ChaosCluster(live)
        finally:
            res = live.finish("teardown", checks=False, final_reads=False)
            if res.error:
                raise RuntimeError(f"chaoskit teardown: {res.error} (results: {res.run_dir})")


class _FaultCM:
    """An applied fault; as a context manager it heals on exit (also on error)."""

    def __init__(self, faults: Faults, handle: Any) -> None:
        self._faults = faults
        self.handle = handle
        self.id = handle.id
        self.targets = handle.targets

    def heal(self) -> None:
        if not self.handle.healed:
            self._faults.live.cluster.heal(self.handle, PYTEST_SOURCE)

    def __enter__(self) -> _FaultCM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.heal()


class Faults:
    """Apply any fault of the catalogue: ``faults.apply("cut-region", region="beijing")``
    or by name with dashes as underscores: ``faults.cut_region("beijing")``,
    ``faults.kill("random-node")``, ``faults.one_way(from_="a", to="b")``. A single
    positional argument fills the fault's first required parameter."""

    def __init__(self, live: Any) -> None:
        self.live = live
        self.applied: list[_FaultCM] = []

    def apply(self, kind: str, *args: Any, **params: Any) -> _FaultCM:
        from chaoskit.faults.catalogue import FAULTS

        fd = FAULTS.get(kind)
        if fd is None:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(FAULTS))}")
        params = {k.rstrip("_"): v for k, v in params.items()}
        if args:
            required = [p.name for p in fd.params if p.required]
            if len(args) > len(required):
                raise TypeError(
                    f"{kind}: {len(args)} positional values, but its required parameters are {required}"
                )
            params.update(dict(zip(required, args, strict=False)))
        h = self.live.apply(kind, params, source=PYTEST_SOURCE)
        cm = _FaultCM(self, h)
        self.applied.append(cm)
        return cm

    def heal_all(self) -> None:
        for cm in reversed(self.applied):
            cm.heal()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        kind = name.replace("_", "-")

        def apply(*args: Any, **params: Any) -> _FaultCM:
            return self.apply(kind, *args, **params)

        apply.__name__ = name
        return apply


class LoadRunHandle:
    """One load run; after the `with` block: `.history` (checker History), `.records`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.history: Any = None
        self.records: list[dict[str, Any]] = []
        self.pids: list[int] = []  # the Locust process(es)

    def ops(self) -> int:
        """Completed operations so far (readable while the load runs)."""
        n = 0
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    if '"invoke"' not in line and line.strip():
                        n += 1
        except OSError:
            pass
        return n

    def wait_ops(self, n: int, timeout_s: float = 30.0) -> int:
        """Wait until at least `n` operations completed (or the timeout); returns the count."""
        deadline = time.monotonic() + timeout_s
        while (got := self.ops()) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return got


class Load:
    """``with load.run(rate=200) as run: ...`` runs Locust load from every region's
    clients for the block's duration; ``run.history`` is the recorded history."""

    def __init__(self, live: Any) -> None:
        self.live = live
        self._n = 0

    @contextmanager
    def run(
        self,
        rate: float | None = None,
        *,
        users: dict[str, int] | None = None,
        max_duration_s: float = 600.0,
    ) -> Iterator[LoadRunHandle]:
        from chaoskit.checker import read_history

        self._n += 1
        out = self.live.run_dir / "loads" / str(self._n)
        out.mkdir(parents=True, exist_ok=True)
        plan = self.live.make_load_plan(
            users=users, rate=rate, duration_s=max_duration_s, out_dir=out
        )
        handle = LoadRunHandle(plan.history_path)
        handle.pids = list(self.live.start_load(plan).pids)
        try:
            yield handle
        finally:
            self.live.stop_load()
        handle.records = [json.loads(x) for x in handle.path.read_text().splitlines() if x.strip()]
        handle.history = read_history(handle.path)


def assert_linearizable(history: Any, model: str = "auto", timeout_s: float = 60.0) -> Any:
    """Fail with a readable account unless `history` (a checker History, a
    LoadRunHandle, a history.jsonl path, or a list of record dicts) is linearizable."""
    from chaoskit.checker import check_linearizable, read_history
    from chaoskit.checker.history import make_history, parse_chaoskit_lines

    where = None
    if isinstance(history, LoadRunHandle):
        where = history.path
        history = history.history if history.history is not None else read_history(history.path)
    elif isinstance(history, str | Path):
        where = Path(history)
        history = read_history(history)
    elif isinstance(history, list):
        history = make_history(parse_chaoskit_lines([json.dumps(r) for r in history], "<list>"))
    else:
        where = getattr(history, "path", None)
    res = check_linearizable(history, model, timeout_s=timeout_s)
    if res.verdict != "linearizable":
        lines = [
            f"history is {res.verdict.upper()} (model {res.model}; {res.ops} operations, "
            f"{res.keys_checked} keys checked)",
        ]
        if res.failing_key is not None:
            lines.append(f"  failing key: {res.failing_key!r}")
        if res.explanation:
            lines.append("  " + res.explanation.replace("\n", "\n  "))
        if res.reason:
            lines.append(f"  reason: {res.reason}")
        if where:
            lines.append(f"  history: {where}")
        __tracebackhide__ = True
        raise AssertionError("\n".join(lines))
    return res


@pytest.fixture(scope="session")
def chaoskit(pytestconfig: pytest.Config) -> ChaoskitFactory:
    return ChaoskitFactory(pytestconfig)


@pytest.fixture(scope="module")
def chaoskit_cluster(request: pytest.FixtureRequest, chaoskit: ChaoskitFactory) -> Any:
    """One cluster per test module, from the module's `chaoskit_experiment`."""
    mod = request.module
    source = getattr(mod, "chaoskit_experiment", None)
    if source is None:
        raise pytest.UsageError(
            f"{mod.__file__}: the chaoskit_cluster fixture needs a module-level "
            "`chaoskit_experiment` (a YAML path relative to this file, YAML text, or a dict)"
        )
    name = getattr(mod, "__name__", "pytest").rpartition(".")[2]
    with chaoskit.cluster(source, name=name, base_dir=Path(mod.__file__).parent) as c:
        yield c


@pytest.fixture
def faults(chaoskit_cluster: ChaosCluster) -> Iterator[Faults]:
    """Faults on the module's cluster; whatever a test leaves applied is healed after it."""
    f = Faults(chaoskit_cluster.live)
    try:
        yield f
    finally:
        f.heal_all()


@pytest.fixture
def load(chaoskit_cluster: ChaosCluster) -> Iterator[Load]:
    """Load on the module's cluster; a load a test leaves running is stopped after it."""
    ld = chaoskit_cluster.load
    try:
        yield ld
    finally:
        chaoskit_cluster.live.stop_load()


@pytest.fixture(name="assert_linearizable")
def _assert_linearizable_fixture() -> Any:
    return assert_linearizable
