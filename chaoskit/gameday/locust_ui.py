"""The chaoskit panel inside Locust's web UI (runs in the Locust process).

The load package's runner calls ``install(environment)`` (LoadPlan.web_ui["extra"] =
"chaoskit.gameday.locust_ui:install") after creating Locust's WebUI and before
it starts serving. It:

- adds the panel page ``/chaoskit`` and its JSON routes ``/chaoskit/api/*``, which
  forward to the game-day process's control API (URL and token come from the
  environment the game day starts Locust with; the token never reaches a browser);
- puts a "chaoskit panel" link on Locust's own page;
- with CHAOSKIT_GAMEDAY_AUTH=user:pass turns on Locust's own web login
  (``web_login``: Flask-Login, Locust's login page, a username/password form whose
  callback is ours), so every Locust route and every panel route needs a login;
- turns the per-region users from fixed counts into weights, so the user count
  Locust's UI asks for is spread over the regions in the experiment's proportions
  (with fixed counts the UI could never go above the experiment's total);
- writes the port it listens on to CHAOSKIT_GAMEDAY_WEB_FILE once it serves (the
  game day asks for port 0 in tests; only the server knows which port it got);
- stops the load when the game-day process is gone (killed with SIGKILL).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from chaoskit.atomic import atomic_write_text

log = logging.getLogger("chaoskit.gameday")

PANEL_HTML = Path(__file__).with_name("panel.html")
FORWARD_TIMEOUT_S = 60.0  # a kill with restart waits for the node to serve again
LINK_HTML = (
    '<a href="/chaoskit" id="chaoskit-panel-link" style="position:fixed;right:16px;bottom:52px;'
    "z-index:2000;background:#c62828;color:#fff;padding:8px 14px;border-radius:6px;"
    'font:600 14px sans-serif;text-decoration:none;box-shadow:0 2px 8px #0006">'
    "chaoskit panel &#9889;</a>"
)


def install(environment: Any) -> None:
    from chaoskit.gameday.gameday import ENV_AUTH, ENV_CONTROL, ENV_TOKEN, ENV_WEB_FILE

    ui = environment.web_ui
    control = os.environ.get(ENV_CONTROL, "")
    token = os.environ.get(ENV_TOKEN, "")
    auth = os.environ.get(ENV_AUTH, "")
    if not control or not token:
        raise RuntimeError(f"chaoskit panel: {ENV_CONTROL} and {ENV_TOKEN} must be set")
    _weights(environment)
    if auth:
        _login(ui, auth)
    _routes(ui, control, token)
    import gevent

    web_file = os.environ.get(ENV_WEB_FILE)
    if web_file:
        gevent.spawn(_report_port, ui, Path(web_file))
    gevent.spawn(_watch_parent, os.getppid())


def _watch_parent(parent: int) -> None:
    """Locust runs in its own session, so a game day killed with SIGKILL would leave
    it running for hours: when the game-day process is gone, stop like on SIGTERM."""
    import signal

    import gevent

    while True:
        gevent.sleep(1.0)
        if os.getppid() != parent:
            log.error("the game-day process (pid %d) is gone: stopping the load", parent)
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _weights(environment: Any) -> None:
    for cls in list(environment.user_classes or []):
        n = getattr(cls, "fixed_count", 0) or 0
        if n > 0:
            cls.weight = n
            cls.fixed_count = 0


def _login(ui: Any, auth: str) -> None:
    from flask import redirect, request, session, url_for
    from flask_login import LoginManager, UserMixin, login_user

    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise RuntimeError("chaoskit panel: the login must be user:password")

    class _User(UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    app = ui.app
    app.secret_key = secrets.token_hex(32)
    lm = LoginManager()
    lm.init_app(app)
    lm.login_view = "locust.login"
    ui.login_manager = lm
    # Checked per request by Locust's auth_required_if_enabled, so turning it on
    # before the server starts protects every route registered so far too.
    ui.web_login = True
    # Only what Locust's login page needs: auth_args is rendered into that page.
    ui.auth_args = {"username_password_callback": "/chaoskit/login"}

    @lm.user_loader
    def _load(uid: str) -> Any:
        return _User(uid) if hmac.compare_digest(uid, user) else None

    def login_submit() -> Any:
        u = request.form.get("username", "")
        p = request.form.get("password", "")
        if hmac.compare_digest(u.encode(), user.encode()) and hmac.compare_digest(
            p.encode(), password.encode()
        ):
            login_user(_User(u))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))

    app.add_url_rule("/chaoskit/login", "chaoskit_login", login_submit, methods=["POST"])


def _routes(ui: Any, control: str, token: str) -> None:
    import requests
    from flask import Response, request

    from chaoskit.gameday.control import TOKEN_HEADER

    app = ui.app
    guard = ui.auth_required_if_enabled

    def forward(method: str, path: str, body: dict | None = None) -> Response:
        try:
            r = requests.request(
                method,
                control + path,
                json=body,
                headers={TOKEN_HEADER: token},
                timeout=FORWARD_TIMEOUT_S,
            )
            return Response(r.content, status=r.status_code, mimetype="application/json")
        except requests.RequestException as e:
            msg = {"ok": False, "error": f"the game-day process does not answer: {e}"}
            return Response(json.dumps(msg), status=502, mimetype="application/json")

    def same_origin() -> Response | None:
        # Locust enables CORS for every origin; a page elsewhere must not be able
        # to inject faults through a browser that can reach this UI.
        origin = request.headers.get("Origin")
        if origin and urlparse(origin).netloc != request.host:
            msg = {"ok": False, "error": f"cross-origin request from {origin} refused"}
            return Response(json.dumps(msg), status=403, mimetype="application/json")
        return None

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if data is None and request.form:
            data = request.form.to_dict()
        return data if isinstance(data, dict) else {}

    def panel() -> Response:
        return Response(PANEL_HTML.read_text(encoding="utf-8"), mimetype="text/html")

    def state() -> Response:
        return forward("GET", "/state")

    def apply() -> Response:
        bad = same_origin()
        if bad is not None:
            return bad
        b = body()
        params = b.get("params") or {}
        if isinstance(params, dict):
            from chaoskit.gameday.commands import parse_value

            # form fields arrive as text: read them as the terminal does (YAML)
            params = {
                k: parse_value(v) if isinstance(v, str) else v
                for k, v in params.items()
                if not (isinstance(v, str) and v.strip() == "")
            }
        return forward(
            "POST", "/apply", {"fault": b.get("fault"), "params": params, "source": "gameday-web"}
        )

    def heal() -> Response:
        bad = same_origin()
        if bad is not None:
            return bad
        return forward("POST", "/heal", {"id": body().get("id"), "source": "gameday-web"})

    def end() -> Response:
        bad = same_origin()
        if bad is not None:
            return bad
        return forward("POST", "/end", {"source": "gameday-web"})

    for rule, name, fn, methods in (
        ("/chaoskit", "chaoskit_panel", panel, ["GET"]),
        ("/chaoskit/", "chaoskit_panel_slash", panel, ["GET"]),
        ("/chaoskit/api/state", "chaoskit_state", state, ["GET"]),
        ("/chaoskit/api/apply", "chaoskit_apply", apply, ["POST"]),
        ("/chaoskit/api/heal", "chaoskit_heal", heal, ["POST"]),
        ("/chaoskit/api/end", "chaoskit_end", end, ["POST"]),
    ):
        app.add_url_rule(rule, name, guard(fn), methods=methods)

    def journal(message: str, fields: dict[str, Any]) -> None:
        try:
            forward(
                "POST", "/note", {"message": message, "source": "gameday-web", "fields": fields}
            )
        except Exception:  # journaling must never break Locust's own UI
            log.exception("could not journal %s", message)

    @app.after_request
    def _journal_load_changes(resp: Response) -> Response:
        # Locust's own controls are room actions too: user count changes and stops
        # go into events.jsonl with their time, next to the faults.
        if request.method == "POST" and request.path == "/swarm" and resp.status_code == 200:
            fields = {
                "user_count": request.form.get("user_count"),
                "spawn_rate": request.form.get("spawn_rate"),
            }
            journal(f"load: {fields['user_count']} users from Locust's web UI", fields)
        elif request.path == "/stop" and resp.status_code == 200:
            journal("load: stopped from Locust's web UI", {})
        return resp

    @app.after_request
    def _link(resp: Response) -> Response:
        # A way from Locust's charts to the panel: a link on Locust's own page.
        if request.path == "/" and resp.status_code == 200 and resp.mimetype == "text/html":
            html = resp.get_data(as_text=True)
            if "</body>" in html and "chaoskit-panel-link" not in html:
                resp.set_data(html.replace("</body>", LINK_HTML + "</body>", 1))
        return resp


def _report_port(ui: Any, path: Path) -> None:
    import gevent

    def write(info: dict[str, Any]) -> None:
        atomic_write_text(path, json.dumps(info), durable=False)

    for _ in range(1200):  # up to a minute
        server = getattr(ui, "server", None)
        if server is not None and getattr(server, "started", False):
            port = server.server_port
            write({"host": ui.host, "port": port, "pid": os.getpid()})
            log.info("chaoskit panel at http://%s:%d/chaoskit", ui.host or "*", port)
            return
        g = getattr(ui, "greenlet", None)
        if g is not None and g.dead:
            # Locust only logs a failed bind (port in use, bad address): tell the game day
            write({"error": f"{type(g.exception).__name__}: {g.exception}", "pid": os.getpid()})
            return
        gevent.sleep(0.05)
    write({"error": "the web UI did not start serving within a minute", "pid": os.getpid()})
