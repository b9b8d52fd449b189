"""`chaoskit check FILE...`: one verdict line per history file, then a total.

Exit status: 0 all linearizable (or valid), 1 any not linearizable (or invalid), 3 any unknown (and none
not linearizable), 2 bad usage or a bad file. A history in which no operation
completed ok is "unknown" (nothing was checked), not a pass; --allow-empty lets a
file with no operations at all pass. A transactional history (f "txn") is checked
for isolation anomalies instead (chaoskit.checker.isolation): valid counts as a
pass, invalid as a failure (exit 1).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from chaoskit.checker.formats import FORMATS
from chaoskit.checker.history import HistoryError
from chaoskit.checker.isolation import TXN_MODELS
from chaoskit.checker.isolation.consistency import CONSISTENCY
from chaoskit.checker.models import MODELS
from chaoskit.units import parse_duration


def _duration_option(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def parse_initial(text: str | None) -> Any:
    """JSON when it parses (17, "x", [1, 2]), nil/null/none for nil, else the string."""
    if text is None or text.lower() in ("nil", "null", "none"):
        return None
    try:
        v = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(v) if isinstance(v, list) else v


def _expand(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        # A run directory (results/<exp>/<ts>, or results/<exp> meaning its `latest`)
        # holds one history among many other files: check just that history.
        run_history = next(
            (h for h in (path / "history.jsonl", path / "latest" / "history.jsonl") if h.is_file()),
            None,
        )
        if path.is_dir() and run_history is not None:
            out.append(run_history)
        elif path.is_dir():
            out.extend(
                sorted(q for q in path.iterdir() if q.is_file() and not q.name.startswith("."))
            )
        else:
            out.append(path)
    return out


@click.command(name="check")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--model",
    "model",
    type=click.Choice(["auto", *sorted(MODELS), *TXN_MODELS]),
    default="auto",
    show_default=True,
    help="Sequential model, or a transactional workload (list-append, rw-register, "
    "bank: checked for isolation anomalies); auto picks from the operations (txn with "
    "appends: list-append, txn with writes: rw-register, add/read-all: set, "
    "get/put/append: kv, cas: cas-register, else register).",
)
@click.option(
    "--consistency",
    type=click.Choice(list(CONSISTENCY)),
    default="serializable",
    show_default=True,
    help="Consistency model a transactional history must satisfy.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="auto",
    show_default=True,
    help="History format (auto detects it from the first line).",
)
@click.option(
    "--initial",
    default=None,
    metavar="JSON",
    help="Initial register value: JSON (0, '[1,2]'), nil, or else the text as a string; "
    "default nil.",
)
@click.option(
    "--timeout",
    "timeout",
    default="60s",
    show_default=True,
    # parsed here so that click names --timeout in the error
    callback=lambda _ctx, _param, value: _duration_option(value),
    metavar="DURATION",
    help="Time limit per file (e.g. 500ms, 60s, 2m).",
)
@click.option(
    "--html",
    "html_out",
    default=None,
    metavar="PATH",
    help="Write the HTML visualisation here (a directory when several files are checked).",
)
@click.option(
    "--max-memory",
    "memory_mb",
    type=click.IntRange(min=16),
    default=1024,
    show_default=True,
    help="Bound (MiB) on the search cache; beyond it the verdict is unknown.",
)
@click.option(
    "--jobs",
    "jobs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Processes to check the keys of a big history in (P-compositionality: keys are "
    "independent). Default: one per idle CPU.",
)
@click.option(
    "--low-memory",
    is_flag=True,
    help="Read a chaoskit JSON Lines history once, spill each key's records to a "
    "temporary file and check the keys one at a time: memory is that of the biggest "
    "key, not of the whole history (same verdicts; not with --html, --export-edn, "
    "--lost-writes; other formats and transactions are read whole).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of lines.")
@click.option(
    "--lost-writes",
    "lost",
    is_flag=True,
    help="Also report lost acknowledged writes (set, register and list-append histories).",
)
@click.option(
    "--export-edn",
    "export_edn",
    default=None,
    metavar="FILE",
    help="Also write the (single) history as Jepsen EDN for Knossos/Elle.",
)
@click.option(
    "--edn-independent",
    is_flag=True,
    help="With --export-edn: keyed ops carry :value [key value] (jepsen.independent "
    "tuples), so Knossos's independent checker checks each key; without it :key is a "
    "plain field, which Knossos ignores (one register for all keys).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="A file with no operations at all is linearizable (exit 0) instead of unknown "
    "(exit 3). Operations that never completed ok still give unknown.",
)
def check(
    files: tuple[str, ...],
    model: str,
    consistency: str,
    fmt: str,
    initial: str | None,
    timeout: float,
    html_out: str | None,
    memory_mb: int,
    jobs: int | None,
    as_json: bool,
    lost: bool,
    export_edn: str | None,
    edn_independent: bool,
    allow_empty: bool,
    low_memory: bool,
) -> None:
    """Check history FILES (or directories of them) for linearizability, or a
    transactional history (f "txn") for isolation anomalies under --consistency.

    A run's directory (results/<experiment>/<timestamp>, or results/<experiment>
    for its latest run) means its history.jsonl. Exit status: 0 all linearizable
    (or free of the anomalies --consistency forbids), 1 any not, 3 any unknown (time or memory bound hit, or nothing
    to check: no operation completed ok), 2 bad usage or a bad file.
    --allow-empty lets a file with no operations at all pass.

    \b
    Examples:
      chaoskit check results/smoke
      chaoskit check history.jsonl --model cas-register --html out.html
      chaoskit check txns.edn --model list-append --consistency snapshot-isolation
    """
    from chaoskit.checker.formats import read_any, write_jepsen_edn
    from chaoskit.checker.linearizability import check_linearizable
    from chaoskit.checker.parallel import default_jobs

    timeout_s = timeout
    init = parse_initial(initial)
    paths = _expand(files)
    if not paths:
        raise click.UsageError("no history files found in " + ", ".join(files))
    if edn_independent and not export_edn:
        raise click.UsageError("--edn-independent needs --export-edn FILE")
    if export_edn and len(paths) != 1:
        raise click.UsageError("--export-edn takes exactly one history file")
    if low_memory:
        for name, given in (
            ("--html", html_out),
            ("--export-edn", export_edn),
            ("--lost-writes", lost),
        ):
            if given:
                raise click.UsageError(
                    f"--low-memory cannot be combined with {name} (it needs the whole history)"
                )
    html_dir: Path | None = None
    if html_out and len(paths) > 1:
        html_dir = Path(html_out)
        if html_dir.exists() and not html_dir.is_dir():
            raise click.UsageError(
                f"--html {html_out}: with several files this must be a directory"
            )
    counts = {"linearizable": 0, "not-linearizable": 0, "unknown": 0, "bad": 0}
    counts.update(valid=0, invalid=0)  # transactional verdicts
    docs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    jobs = jobs or default_jobs()
    for path in paths:
        if low_memory and _streamed(
            path, fmt, model, timeout_s, init, memory_mb, jobs, allow_empty, as_json, docs, counts
        ):
            continue
        try:
            history = read_any(path, fmt)
            if _check_txn(
                history, model, consistency, path, html_out, html_dir, as_json, docs, counts, lost
            ):
                if export_edn:
                    write_jepsen_edn(history, export_edn)
                continue
            result = check_linearizable(
                history, model, timeout_s=timeout_s, initial=init, memory_mb=memory_mb, jobs=jobs
            )
        except HistoryError as e:
            counts["bad"] += 1
            docs.append({"path": str(path), "error": str(e)})
            if not as_json:
                click.echo(f"bad history {e}", err=True)
            continue
        except ValueError as e:
            counts["bad"] += 1
            docs.append({"path": str(path), "error": str(e)})
            if not as_json:
                click.echo(f"{path}: {e}", err=True)
            continue
        _no_vacuous_pass(
            result,
            len(history.ops),
            sum(op.type == "ok" for op in history.ops),
            sum(op.type == "fail" for op in history.ops),
            allow_empty,
        )
        counts[result.verdict] += 1
        doc = {"path": str(path), **result.to_dict()}
        lw = None
        if lost:
            lw = _lost_writes(history, result.model)
            doc["lost_writes"] = lw.to_dict() if lw is not None else None
        docs.append(doc)
        if html_out:
            from chaoskit.checker.html import render_html

            target = html_dir / (path.stem + ".html") if html_dir else Path(html_out)
            render_html(history, result, target)
        if export_edn:
            write_jepsen_edn(history, export_edn, independent=edn_independent)
        if not as_json:
            line = (
                f"{path}: {result.verdict} (model {result.model}, {result.ops} ops, "
                f"{result.keys_checked} key(s), {result.elapsed_s:.3f} s)"
            )
            if result.verdict == "unknown":
                line += f": {result.reason}"
            elif not history.ops:  # only --allow-empty gets here
                line += ": empty history, accepted by --allow-empty"
            click.echo(line)
            for note in history.notes:
                click.echo(f"  note: {note}")
            if result.verdict == "not-linearizable":
                for ln in result.explanation.splitlines():
                    click.echo("  " + ln)
            if lw is not None:
                click.echo("  lost writes: " + lw.summary())
    elapsed = time.monotonic() - t0
    total = {**counts, "files": len(paths), "elapsed_s": round(elapsed, 6)}
    if as_json:
        click.echo(json.dumps({"files": docs, "total": total}, indent=1, default=str))
    else:
        txn = (
            f"{counts['valid']} valid, {counts['invalid']} invalid, "
            if counts["valid"] + counts["invalid"]
            else ""
        )
        click.echo(
            f"total: {len(paths)} file(s): {counts['linearizable']} linearizable, "
            f"{counts['not-linearizable']} not linearizable, {txn}{counts['unknown']} unknown, "
            f"{counts['bad']} bad ({elapsed:.3f} s)"
        )
    if counts["bad"]:
        sys.exit(2)
    if counts["not-linearizable"] or counts["invalid"]:
        sys.exit(1)
    if counts["unknown"]:
        sys.exit(3)
    sys.exit(0)


def _no_vacuous_pass(result: Any, n_ops: int, n_ok: int, n_failed: int, allow_empty: bool) -> None:
    """A verdict over no completed operation must not read as a pass: make it unknown,
    unless the file has no operations at all and --allow-empty says that is fine."""
    if result.verdict != "linearizable" or n_ok:
        return
    if allow_empty and not n_ops:
        return
    if n_ops:
        why = (
            f"no operation completed ok ({n_ops} op(s): {n_failed} failed, "
            f"{n_ops - n_failed} indeterminate)"
        )
    else:
        why = "the history has no operations (--allow-empty accepts that)"
    result.verdict = "unknown"
    result.reason = "nothing was checked: " + why


def _streamed(
    path: Path,
    fmt: str,
    model: str,
    timeout_s: float,
    init: Any,
    memory_mb: int,
    jobs: int,
    allow_empty: bool,
    as_json: bool,
    docs: list[dict[str, Any]],
    counts: dict[str, int],
) -> bool:
    """--low-memory: check a chaoskit JSON Lines file key by key (lowmem.py). False
    when the file is to be read whole instead (another format, transactions)."""
    from chaoskit.checker.formats import detect_format
    from chaoskit.checker.lowmem import NotStreamable, check_file_low_memory

    if fmt == "auto":
        try:
            with path.open(encoding="utf-8") as fh:
                first = next((ln for ln in fh if ln.strip()), "")
        except (OSError, UnicodeDecodeError):
            return False  # the whole-file reader reports it
        fmt = detect_format(first)
    if fmt != "chaoskit":
        if not as_json:
            click.echo(f"  note: {path}: --low-memory streams chaoskit JSON Lines; read whole")
        return False
    try:
        sc = check_file_low_memory(path, model, timeout_s, init, memory_mb, jobs)
    except NotStreamable as e:
        if not as_json:
            click.echo(f"  note: {path}: {e}; read whole")
        return False
    except ValueError as e:  # as the whole-file path reports them
        counts["bad"] += 1
        docs.append({"path": str(path), "error": str(e)})
        if not as_json:
            bad = f"bad history {e}" if isinstance(e, HistoryError) else f"{path}: {e}"
            click.echo(bad, err=True)
        return True
    result = sc.result
    _no_vacuous_pass(result, sc.ops, sc.ok, sc.failed, allow_empty)
    counts[result.verdict] += 1
    docs.append({"path": str(path), **result.to_dict()})
    if not as_json:
        line = (
            f"{path}: {result.verdict} (model {result.model}, {result.ops} ops, "
            f"{result.keys_checked} key(s), {result.elapsed_s:.3f} s, low memory)"
        )
        if result.verdict == "unknown":
            line += f": {result.reason}"
        elif not sc.ops:
            line += ": empty history, accepted by --allow-empty"
        click.echo(line)
        if result.verdict == "not-linearizable":
            for ln in result.explanation.splitlines():
                click.echo("  " + ln)
    return True


def _lost_writes(history: Any, model: str) -> Any:
    from chaoskit.checker.lost_writes import analyse_lost_writes

    if model == "set":
        return analyse_lost_writes(history, "set")
    if model in ("register", "cas-register", "list-append"):
        return analyse_lost_writes(history, model)
    return None


def _check_txn(
    history: Any,
    model: str,
    consistency: str,
    path: Path,
    html_out: str | None,
    html_dir: Path | None,
    as_json: bool,
    docs: list[dict[str, Any]],
    counts: dict[str, int],
    lost: bool = False,
) -> bool:
    """Check a transactional history for isolation anomalies; False when `history`
    is not transactional (the linearizability path takes it)."""
    from chaoskit.checker.isolation import check_isolation, txn_workload

    workload = txn_workload(history, model)
    if workload is None:
        return False
    from chaoskit.checker.isolation.report import render_html, text_lines

    result = check_isolation(history, workload, consistency)
    counts[result.verdict] += 1
    docs.append({"path": str(path), **result.to_dict()})
    lw = _lost_writes(history, workload) if lost and workload == "list-append" else None
    if lw is not None:
        docs[-1]["lost_writes"] = lw.to_dict()
    if html_out:
        target = html_dir / (path.stem + ".html") if html_dir else Path(html_out)
        render_html(result, target, title=str(path))
    if not as_json:
        for line in text_lines(result, str(path)):
            click.echo(line)
        for note in history.notes:
            click.echo(f"  note: {note}")
        if lw is not None:
            click.echo("  lost appends: " + lw.summary())
    return True
