"""The HTTP API (aiohttp), Toxiproxy 2.x compatible, plus chaoskit extensions.

Only API present in both aiohttp 3.8.4 (Debian bookworm) and current 3.x is used.

Routes (Toxiproxy): GET/POST /proxies, POST /populate, GET/POST/PATCH/DELETE
/proxies/{proxy}, GET/POST /proxies/{proxy}/toxics, GET/POST/PATCH/DELETE
/proxies/{proxy}/toxics/{toxic}, POST /reset, GET /version, GET /metrics.
Extensions: POST /chaoskit/batch (see batch.py).

Every error, including unknown routes, wrong methods, bad JSON and internal
failures, is a JSON body ``{"error": ..., "status": N}``; nothing a client sends
takes the server down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chaoskit import __version__
from chaoskit.access import TOKEN_HEADER, presented_token, token_ok
from chaoskit.links import metrics
from chaoskit.links.batch import apply_batch
from chaoskit.links.core import LinkCore, PopulateError
from chaoskit.links.errors import BAD_REQUEST_BODY, ApiError

log = logging.getLogger("chaoskit.links")

# The Toxiproxy API level this server implements (reported by GET /version).
TOXIPROXY_VERSION = "2.12.0"
EXTENSIONS = ["batch"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def _error(err: ApiError, **extra: Any) -> web.Response:
    return _json({**err.body(), **extra}, status=err.status)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise BAD_REQUEST_BODY.joined("EOF")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BAD_REQUEST_BODY.joined(str(e)) from None
    except RecursionError:  # "[[[[..." nested deeper than the parser's stack
        raise BAD_REQUEST_BODY.joined("JSON nested too deeply") from None


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Toxiproxy refuses browsers (a CSRF guard against pages poking localhost:8474).
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return _error(ApiError("User agent not allowed", 403))
    try:
        return await handler(request)
    except ApiError as e:
        return _error(e, **({"op": e.op} if hasattr(e, "op") else {}))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return _error(ApiError(e.reason or "error", e.status))
    except Exception as e:  # a bug must answer 500, never kill the server
        log.exception("%s %s failed", request.method, request.path)
        return _error(ApiError(f"internal error: {e}", 500))


def token_middleware(token: str | None) -> Any:
    """Every request must carry the server's token (chaoskit.access) when it has one."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not token_ok(token, presented_token(request.headers)):
            return _error(ApiError(f"missing or wrong {TOKEN_HEADER}", 401))
        return await handler(request)

    return check


# A plan with node links builds thousands of proxies in one batch (~200 bytes each):
# bodies above aiohttp's 1 MiB default are allowed, up to this bound (413 above it).
MAX_BODY_BYTES = 16 << 20


class Api:
    def __init__(self, core: LinkCore, token: str | None = None) -> None:
        self.core = core
        self.token = token

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[errors_middleware, token_middleware(self.token)],
            client_max_size=MAX_BODY_BYTES,
        )
        r = app.router
        r.add_route("GET", "/proxies", self.proxy_index)
        r.add_route("POST", "/proxies", self.proxy_create)
        r.add_route("POST", "/populate", self.populate)
        r.add_route("POST", "/reset", self.reset)
        r.add_route("GET", "/version", self.version)
        r.add_route("GET", "/metrics", self.metrics)
        r.add_route("POST", "/chaoskit/batch", self.batch)
        r.add_route("GET", "/proxies/{proxy}", self.proxy_show)
        r.add_route("POST", "/proxies/{proxy}", self.proxy_update)
        r.add_route("PATCH", "/proxies/{proxy}", self.proxy_update)
        r.add_route("DELETE", "/proxies/{proxy}", self.proxy_delete)
        r.add_route("GET", "/proxies/{proxy}/toxics", self.toxic_index)
        r.add_route("POST", "/proxies/{proxy}/toxics", self.toxic_create)
        r.add_route("GET", "/proxies/{proxy}/toxics/{toxic}", self.toxic_show)
        r.add_route("POST", "/proxies/{proxy}/toxics/{toxic}", self.toxic_update)
        r.add_route("PATCH", "/proxies/{proxy}/toxics/{toxic}", self.toxic_update)
        r.add_route("DELETE", "/proxies/{proxy}/toxics/{toxic}", self.toxic_delete)
        return app

    # -- proxies -------------------------------------------------------------------

    async def proxy_index(self, request: web.Request) -> web.Response:
        return _json({name: p.to_json() for name, p in self.core.proxies.items()})

    async def proxy_create(self, request: web.Request) -> web.Response:
        body = await _body(request)
        async with self.core.lock:
            proxy = await self.core.create_proxy(body)
        return _json(proxy.to_json(), status=201)

    async def populate(self, request: web.Request) -> web.Response:
        body = await _body(request)
        async with self.core.lock:
            try:
                proxies = await self.core.populate(body)
            except PopulateError as e:
                return _error(e, proxies=[p.to_json() for p in e.proxies])
        return _json({"proxies": [p.to_json() for p in proxies]}, status=201)

    async def proxy_show(self, request: web.Request) -> web.Response:
        return _json(self.core.get(request.match_info["proxy"]).to_json())

    async def proxy_update(self, request: web.Request) -> web.Response:
        name = request.match_info["proxy"]
        self.core.get(name)  # 404 before looking at the body, as Toxiproxy
        body = await _body(request)
        async with self.core.lock:
            proxy = await self.core.update_proxy(name, body)
        return _json(proxy.to_json())

    async def proxy_delete(self, request: web.Request) -> web.Response:
        async with self.core.lock:
            self.core.delete_proxy(request.match_info["proxy"])
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        async with self.core.lock:
            await self.core.reset()
        return web.Response(status=204)

    # -- toxics ---------------------------------------------------------------------

    async def toxic_index(self, request: web.Request) -> web.Response:
        proxy = self.core.get(request.match_info["proxy"])
        return _json([t.to_json() for t in proxy.toxics()])

    async def toxic_create(self, request: web.Request) -> web.Response:
        name = request.match_info["proxy"]
        self.core.get(name)
        body = await _body(request)
        async with self.core.lock:
            toxic = self.core.add_toxic(name, body)
        return _json(toxic.to_json())

    async def toxic_show(self, request: web.Request) -> web.Response:
        toxic = self.core.get_toxic(request.match_info["proxy"], request.match_info["toxic"])
        return _json(toxic.to_json())

    async def toxic_update(self, request: web.Request) -> web.Response:
        pname, tname = request.match_info["proxy"], request.match_info["toxic"]
        self.core.get_toxic(pname, tname)
        body = await _body(request)
        async with self.core.lock:
            toxic = self.core.update_toxic(pname, tname, body)
        return _json(toxic.to_json())

    async def toxic_delete(self, request: web.Request) -> web.Response:
        async with self.core.lock:
            self.core.remove_toxic(request.match_info["proxy"], request.match_info["toxic"])
        return web.Response(status=204)

    # -- misc ------------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return _json(
            {
                "version": TOXIPROXY_VERSION,
                "chaoskit": {"version": __version__, "extensions": EXTENSIONS},
            }
        )

    async def metrics(self, request: web.Request) -> web.Response:
        text = metrics.render(self.core.proxies.values())
        return web.Response(body=text.encode(), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def batch(self, request: web.Request) -> web.Response:
        body = await _body(request)
        async with self.core.lock:
            results = await apply_batch(self.core, body)
        return _json({"results": results})
