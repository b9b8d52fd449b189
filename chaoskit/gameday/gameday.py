"""A game day: the topology up, load under Locust's web UI with a chaoskit panel,
faults applied and healed live from the panel or the terminal, and an ending
(button, `end`, Ctrl-C) that heals everything and checks and reports exactly as
`chaoskit run` does.

Processes: this one owns the cluster, the faults and the journal (events.jsonl)
and serves the control API (control.py) on 127.0.0.1 with a random token; Locust
runs in its own process (gevent) with the panel's routes (locust_ui.py), which
forward every action here.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from chaoskit.gameday.commands import HELP, Action, CommandError, parse_command
from chaoskit.gameday.control import SOURCES, ControlServer
from chaoskit.gameday.live import LiveError, LiveResult, LiveRun

WEB_START_TIMEOUT_S = 60.0
DEFAULT_DURATION_S = 4 * 3600.0  # the load's upper bound; a game day normally ends by hand

# Environment of the Locust process (read by locust_ui.install).
ENV_CONTROL = "CHAOSKIT_GAMEDAY_CONTROL"
ENV_TOKEN = "CHAOSKIT_GAMEDAY_TOKEN"
ENV_AUTH = "CHAOSKIT_GAMEDAY_AUTH"
ENV_WEB_FILE = "CHAOSKIT_GAMEDAY_WEB_FILE"


class GameDayError(RuntimeError):
    pass


class WebUIError(GameDayError):
    """Locust's web UI could not listen where asked (port in use, bad address)."""


class GameDay:
    def __init__(
        self,
        experiment: Any,
        results_root: Path,
        *,
        backend: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8089,
        auth: str | None = None,
        duration_s: float = DEFAULT_DURATION_S,
        run_schedule: bool = False,
        out: Callable[[str], None] | None = None,
        workers: int | None = None,
    ) -> None:
        self.live = LiveRun(experiment, results_root, backend=backend, run_schedule=run_schedule)
        self.workers = workers  # None = the experiment's load.workers
        self.host, self.port, self.auth = host, port, auth
        self.duration_s = duration_s
        self.out = out or (lambda s: print(s, flush=True))
        self.control: ControlServer | None = None
        self.web_url: str | None = None
        self._end = threading.Event()
        self._end_source = "teardown"
        self._end_reason = ""
        self._signals = 0

    # -- actions (shared by the panel and the terminal) -----------------------------------

    def request_end(self, source: str, reason: str) -> None:
        if not self._end.is_set():
            self._end_source, self._end_reason = source, reason
            self._end.set()

    def act(self, action: Action, source: str) -> dict[str, Any]:
        """Do one action; raises LiveError/CommandError with a readable message."""
        live = self.live
        if action.verb == "apply":
            try:
                h = live.apply(action.fault or "", action.params, source=source)
            except LiveError as e:
                live.note(
                    f"rejected: apply {action.fault}: {e}",
                    source=source,
                    fault=action.fault,
                    params=action.params,
                )
                raise
            return {"ok": True, "fault": _handle(h)}
        if action.verb == "heal":
            try:
                healed = live.heal(action.target or "", source=source)
            except LiveError as e:
                live.note(f"rejected: heal {action.target}: {e}", source=source)
                raise
            return {"ok": True, "healed": healed}
        if action.verb == "end":
            live.note("game day ended", source=source)
            self.request_end(source, f"ended from {source}")
            return {"ok": True, "ending": True, "run_dir": str(live.run_dir)}
        if action.verb == "status":
            return {"ok": True, **live.status()}
        return {"ok": True, "help": HELP}

    def handle_http(self, verb: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The control API's handler (called on the server's threads)."""
        source = body.get("source", "gameday-web")
        if source not in SOURCES:
            return 400, {"ok": False, "error": f"source must be one of {', '.join(SOURCES)}"}
        if verb == "state":
            st = self.live.status()
            st["web_url"] = self.web_url
            st["ending"] = self._end.is_set()
            return 200, {"ok": True, **st}
        if verb == "note":
            # a package action on Locust's side (user count, stop): journal it, nothing else
            fields = body.get("fields") if isinstance(body.get("fields"), dict) else {}
            fields = {
                str(k): v
                for k, v in fields.items()
                if k not in ("message", "source", "time", "event")
            }
            self.live.note(str(body.get("message") or "")[:500], source=source, **fields)
            return 200, {"ok": True}
        if verb == "apply":
            params = body.get("params") or {}
            if not isinstance(params, dict):
                return 400, {"ok": False, "error": "params must be a JSON object"}
            action = Action("apply", fault=str(body.get("fault") or ""), params=params)
        elif verb == "heal":
            action = Action("heal", target=str(body.get("id") or ""))
        else:
            action = Action("end")
        if self._end.is_set() and verb != "end":
            return 409, {"ok": False, "error": "the game day is ending"}
        try:
            return 200, self.act(action, source)
        except (LiveError, CommandError) as e:
            return 400, {"ok": False, "error": str(e)}

    # -- terminal --------------------------------------------------------------------------

    def terminal(self, stream: IO[str], interactive: bool) -> None:
        """Read commands until `end` or EOF. EOF ends the game day only on a terminal
        (Ctrl-D); with stdin redirected the panel keeps the game day going."""
        self.out("commands: apply FAULT key=value ... | heal ID | heal all | status | end | help")
        while not self._end.is_set():
            if interactive:
                sys.stdout.write("gameday> ")
                sys.stdout.flush()
            line = stream.readline()
            if not line:
                if interactive:
                    self.act(Action("end"), "gameday-terminal")
                return
            try:
                action = parse_command(line)
                if action is None:
                    continue
                if self._end.is_set():
                    return
                res = self.act(action, "gameday-terminal")
            except (CommandError, LiveError) as e:
                self.out(f"error: {e}")
                continue
            except Exception as e:  # a failed action must not end the prompt
                self.out(f"error: {type(e).__name__}: {e}")
                continue
            self.out(_describe(action, res))

    # -- the whole game day -----------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals += 1
        if self._signals >= 2 and self.live.cluster is not None:
            self.live.cluster.backend.hurry = True  # second Ctrl-C: no grace periods
        self.request_end("teardown", f"interrupted by {signal.Signals(signum).name}")

    def run(self, stdin: IO[str] | None = None, interactive: bool = False) -> LiveResult:
        old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                old[s] = signal.signal(s, self._on_signal)
        live = self.live
        try:
            try:
                live.up()
                self.control = ControlServer(self.handle_http).start()
                self._start_load()
            except BaseException as e:
                live.abort(f"the game day did not start: {type(e).__name__}: {e}")
                raise
            if stdin is not None:
                threading.Thread(
                    target=self.terminal, args=(stdin, interactive), daemon=True
                ).start()
            while not self._end.wait(0.5):
                if live.load is not None and not live.load.alive():
                    live.note("the load ended by itself", source="teardown")
                    self.request_end("teardown", "the load ended")
            self.out(f"ending the game day ({self._end_reason}): healing, checking, reporting")
            if self._end_source == "teardown":
                live.note("game day ended", source="teardown", reason=self._end_reason)
            # Ctrl-C is an ordinary way to end a game day: checked and reported as any end
            return live.finish(self._end_source)
        finally:
            if self.control is not None:
                self.control.stop()
            for s, h in old.items():
                signal.signal(s, h)

    def _raise_web_error(self, web_file: Path) -> None:
        err = _web_error(web_file)
        if err:
            raise WebUIError(
                f"the web UI cannot listen on {self.host}:{self.port} ({err}); "
                "choose another --port (0 = any free port) or --host"
            )

    def _start_load(self) -> None:
        live = self.live
        web_file = live.run_dir / ".gameday-web.json"
        env = {
            ENV_CONTROL: self.control.url,
            ENV_TOKEN: self.control.token,
            ENV_AUTH: self.auth or "",
            ENV_WEB_FILE: str(web_file),
        }
        # The plan's own "auth" stays None: load-plan.json is saved with the results,
        # and the credentials must not be.
        web_ui = {
            "host": self.host,
            "port": self.port,
            "auth": None,
            "extra": "chaoskit.gameday.locust_ui:install",
        }
        from chaoskit.load import LoadError

        try:
            live.start_load(
                duration_s=self.duration_s, web_ui=web_ui, env=env, workers=self.workers
            )
        except LoadError:
            # the Locust process exits when its web UI cannot listen; our hook says why
            self._raise_web_error(web_file)
            raise
        reported = getattr(live.load, "info", None) or {}
        if reported.get("web_port") and not web_file.exists():
            # the load package reports the port itself (newer runner): no need to wait for ours
            from chaoskit.results import atomic_write_json

            atomic_write_json(web_file, {"port": reported["web_port"], "host": self.host})
        deadline = time.monotonic() + WEB_START_TIMEOUT_S
        while not web_file.exists():
            if live.load is None or not live.load.alive():
                raise GameDayError(
                    f"the Locust process ended before its web UI started; see {live.run_dir / 'load.log'}"
                )
            if time.monotonic() > deadline:
                raise GameDayError(
                    f"Locust's web UI did not start within {WEB_START_TIMEOUT_S:.0f} s; see {live.run_dir / 'load.log'}"
                )
            time.sleep(0.05)
        self._raise_web_error(web_file)
        info = json.loads(web_file.read_text())
        shown = "127.0.0.1" if self.host in ("", "0.0.0.0", "127.0.0.1") else self.host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        self.web_url = f"http://{shown}:{info['port']}"
        from chaoskit.results import atomic_write_json

        atomic_write_json(
            live.run_dir / "gameday.json",
            {
                "web_url": self.web_url,
                "panel_url": self.web_url + "/chaoskit",
                "host": self.host,
                "port": info["port"],
                "login": bool(self.auth),
                "pid": os.getpid(),
                "locust_pid": live.load.pids[0] if live.load else None,
            },
        )
        self.out(f"results:      {live.run_dir}")
        self.out(f"Locust web UI: {self.web_url}/")
        self.out(f"chaoskit panel: {self.web_url}/chaoskit")


def _web_error(web_file: Path) -> str | None:
    try:
        return json.loads(web_file.read_text()).get("error")
    except (OSError, ValueError):
        return None


def _handle(h: Any) -> dict[str, Any]:
    return {"id": h.id, "fault": h.kind, "params": h.params, "targets": h.targets}


def _describe(action: Action, res: dict[str, Any]) -> str:
    if action.verb == "apply":
        f = res["fault"]
        t = f["targets"]
        what = t.get("regions") or t.get("nodes") or []
        return f"applied {f['id']} {f['fault']} {what} ({len(t.get('links', []))} links)"
    if action.verb == "heal":
        return "healed " + (", ".join(res["healed"]) or "nothing (no active fault)")
    if action.verb == "end":
        return "ending"
    if action.verb == "help":
        return res["help"]
    lines = [f"{res['experiment']}: {res['elapsed_s']} s, load running: {res['load']['running']}"]
    for a in res["active"]:
        lines.append(f"  active {a['describe']} (from {a['source']}, at {a['applied_at_s']} s)")
    if not res["active"]:
        lines.append("  no active fault")
    cut = [ln["name"] for ln in res["links"] if ln["cut"]]
    lines.append(f"  links: {len(res['links'])}, cut: {len(cut)}" + (f" {cut[:6]}" if cut else ""))
    return "\n".join(lines)
