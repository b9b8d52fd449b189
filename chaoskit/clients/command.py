"""The `command` client protocol: each workload operation runs one command (argv).

    client:
      protocol: command
      read:  [redis-cli, -h, "{host}", -p, "{port}", GET, "{key}"]
      write: [redis-cli, -h, "{host}", -p, "{port}", SET, "{key}", "{value}"]
      cas:   [my-cas, "{host}:{port}", "{key}", "{expected}", "{new}"]
      fail_exit: [1]        # exit codes meaning "certainly no effect" (default [1])
      mismatch_exit: [3]    # cas: exit codes meaning "compare did not match" (default none)
      env: {LANG: C}

Each argv word is a template (chaoskit.clients.templating; values as plain text).
Outcomes, honestly:

- ok: exit 0; a read's value is its stdout (JSON when it parses; empty or "nil"
  means no value); read-all: a JSON list or one element per line;
- fail: an exit code in `fail_exit`, a cas exit in `mismatch_exit` (marked
  cas-mismatch), a command that cannot be started, and every read that did not
  succeed;
- info: any other exit code, or no exit within the timeout (the command's process
  group is killed): it may have taken effect.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

from chaoskit.clients.statuses import check_codes, parse_codes
from chaoskit.clients.templating import (
    FILLED,
    OPERATIONS,
    as_text,
    check_operations,
    fields,
    parse_set,
    parse_value,
    render,
    unknown_placeholders,
)
from chaoskit.systems.base import CAS_MISMATCH, Client, Outcome, unknown_names

OPTION_KEYS = ("protocol", "fail_exit", "mismatch_exit", "env", *OPERATIONS)
READS = ("read", "read-all")


class CommandClient(Client):
    def __init__(self, options: dict, host: str, port: int, timeout_s: float) -> None:
        self.options = options
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.fail = parse_codes(options.get("fail_exit", [1]))
        self.mismatch = parse_codes(options.get("mismatch_exit", []))
        self.env = {**os.environ, **{str(k): str(v) for k, v in (options.get("env") or {}).items()}}

    @classmethod
    def check_options(cls, options: dict) -> list[tuple[str, str]]:
        problems = unknown_names(options, OPTION_KEYS, "command client field")
        problems += check_codes(options, "fail_exit") + check_codes(options, "mismatch_exit")
        env = options.get("env")
        if env is not None and not isinstance(env, dict):
            problems.append(("env", "must map variable name -> value"))
        problems += check_operations(options, _check_argv)
        return problems

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        template = self.options.get(f)
        if not isinstance(template, list):
            return Outcome("fail", None, f"the command client describes no {f!r} command")
        values = fields(f, key, value, self.host, self.port)
        argv = [render(str(w), values, as_text) for w in template]
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        except OSError as e:
            return Outcome("fail", None, f"{argv[0]}: cannot start: {e.strerror or e!r}")
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return Outcome("fail" if f in READS else "info", None, f"{argv[0]}: timed out")
        text = out.decode(errors="replace")
        error = f"{argv[0]} exited {proc.returncode}: {(err or out)[:200].decode(errors='replace').strip()}"
        if proc.returncode == 0:
            if f == "read":
                return Outcome("ok", parse_value(text))
            if f == "read-all":
                return Outcome("ok", parse_set(text))
            return Outcome("ok", value)
        if f == "cas" and proc.returncode in self.mismatch:
            return Outcome("fail", None, f"{CAS_MISMATCH}: {error}")
        if f in READS or proc.returncode in self.fail:
            return Outcome("fail", None, error)
        return Outcome("info", None, error)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _check_argv(op: str, argv: Any) -> list[tuple[str, str]]:
    valid = "valid: " + ", ".join("{" + n + "}" for n in (*FILLED[op], "host", "port"))
    if isinstance(argv, str):
        return [
            (
                op,
                f"a shell string ({argv!r}); give an argv list, one word per item, "
                f"e.g. [redis-cli, -p, '{{port}}', GET, '{{key}}']",
            )
        ]
    if not isinstance(argv, list) or not argv:
        return [(op, f"must be a non-empty argv list; got {argv!r}")]
    out = []
    for i, word in enumerate(argv):
        if not isinstance(word, str | int | float) or isinstance(word, bool):
            out.append((f"{op}.{i}", f"argv words are text; got {word!r}"))
            continue
        for name in unknown_placeholders(str(word), op):
            out.append((f"{op}.{i}", f"unknown placeholder {{{name}}} for {op}; {valid}"))
    return out
