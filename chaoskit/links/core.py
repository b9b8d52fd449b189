"""The proxy collection and every operation of the API, independent of HTTP.

Bodies arrive as parsed JSON (`Any`); each operation validates what it reads and
raises `ApiError` with Toxiproxy's codes and messages (api.go, proxy_collection.go,
toxic_collection.go). All methods run on the server's event loop; `lock`
serialises mutations so a batch is not interleaved with single requests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chaoskit.links.errors import (
    BAD_REQUEST_BODY,
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    MISSING_FIELD,
    PROXY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_EXISTS,
    TOXIC_NOT_FOUND,
    ApiError,
)
from chaoskit.links.proxy import Proxy
from chaoskit.links.toxics import REGISTRY, STREAMS, Toxic

# An empty listen address means "any interface, any port", as Go's net.Listen("").
DEFAULT_LISTEN = "0.0.0.0:0"


class PopulateError(ApiError):
    """A /populate that failed part-way: Toxiproxy still reports what it created."""

    def __init__(self, error: ApiError, proxies: list[Proxy]) -> None:
        super().__init__(error.message, error.status)
        self.proxies = proxies


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BAD_REQUEST_BODY.joined(f"{what} must be a JSON object")
    return body


def _field(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        names = {str: "a string", bool: "true or false", float: "a number", dict: "an object"}
        raise BAD_REQUEST_BODY.joined(
            f"{what} field {key!r} must be {names.get(kind, kind.__name__)}, got {value!r}"
        )
    return value


class LinkCore:
    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    # -- proxies ---------------------------------------------------------------------

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    @staticmethod
    def parse_proxy(body: Any, where: str = "proxy") -> tuple[str, str, str, bool | None]:
        body = _object(body, where)
        name = _field(body, "name", str, where) or ""
        listen = _field(body, "listen", str, where) or ""
        upstream = _field(body, "upstream", str, where) or ""
        enabled = _field(body, "enabled", bool, where)
        return name, listen, upstream, enabled

    async def create_proxy(self, body: Any) -> Proxy:
        name, listen, upstream, enabled = self.parse_proxy(body)
        if not name:
            raise MISSING_FIELD.joined("name")
        if not upstream:
            raise MISSING_FIELD.joined("upstream")
        if name in self.proxies:
            raise PROXY_EXISTS
        proxy = Proxy(name, listen or DEFAULT_LISTEN, upstream)
        if enabled is None or enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace many proxies; a proxy with the same listen and upstream
        is kept as it is (toxics and connections included), as Toxiproxy does."""
        if not isinstance(body, list):
            raise BAD_REQUEST_BODY.joined("populate expects a JSON array of proxies")
        items = []
        for i, item in enumerate(body, 1):
            name, listen, upstream, enabled = self.parse_proxy(item, f"proxy {i}")
            if not name:
                raise MISSING_FIELD.joined(f"name at proxy {i}")
            if not upstream:
                raise MISSING_FIELD.joined(f"upstream at proxy {i}")
            items.append(
                (name, listen or DEFAULT_LISTEN, upstream, True if enabled is None else enabled)
            )
        done: list[Proxy] = []
        for name, listen, upstream, enabled in items:
            existing = self.proxies.get(name)
            if existing is not None:
                if not existing.listen_differs(listen) and existing.upstream == upstream:
                    done.append(existing)
                    continue
                existing.stop()
                del self.proxies[name]
            proxy = Proxy(name, listen, upstream)
            try:
                if enabled:
                    await proxy.start()
            except ApiError as e:
                raise PopulateError(e, done) from None
            self.proxies[name] = proxy
            done.append(proxy)
        return done

    async def update_proxy(self, name: str, body: Any) -> Proxy:
        """Omitted fields keep their value. A new listen or upstream restarts the
        listener (open connections are dropped, as in Toxiproxy)."""
        proxy = self.get(name)
        _, listen, upstream, enabled = self.parse_proxy(body)
        listen = listen or proxy.listen
        upstream = upstream or proxy.upstream
        enabled = proxy.enabled if enabled is None else enabled
        if proxy.listen_differs(listen) or upstream != proxy.upstream:
            proxy.stop()
            proxy.listen = listen
            proxy.upstream = upstream
        if enabled and not proxy.enabled:
            await proxy.start()
        elif not enabled:
            proxy.stop()
        return proxy

    def delete_proxy(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (POST /reset)."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            proxy.reset_toxics()

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            proxy.stop()
        self.proxies.clear()

    # -- toxics ------------------------------------------------------------------------

    @staticmethod
    def parse_toxic(body: Any, proxy: Proxy | None = None) -> Toxic:
        """Validate in Toxiproxy's order: body, stream, type, name taken (409), attributes."""
        body = _object(body, "toxic")
        stream = _field(body, "stream", str, "toxic")
        stream = "downstream" if stream is None else stream.lower()
        if stream not in STREAMS:
            raise INVALID_STREAM
        type_ = _field(body, "type", str, "toxic") or ""
        name = _field(body, "name", str, "toxic") or f"{type_}_{stream}"
        toxicity = _field(body, "toxicity", float, "toxic")
        toxicity = 1.0 if toxicity is None else float(toxicity)
        cls = REGISTRY.get(type_)
        if cls is None:
            raise INVALID_TOXIC_TYPE
        if proxy is not None and proxy.find_toxic(name) is not None:
            raise TOXIC_EXISTS
        if not 0.0 <= toxicity <= 1.0:
            raise BAD_REQUEST_BODY.joined(f"toxicity must be within 0.0..1.0, got {toxicity}")
        attributes = cls.check_attributes(body.get("attributes"))
        return cls(name, stream, toxicity, attributes)

    def add_toxic(self, proxy_name: str, body: Any) -> Toxic:
        proxy = self.get(proxy_name)
        toxic = self.parse_toxic(body, proxy)
        proxy.add_toxic(toxic)
        return toxic

    def get_toxic(self, proxy_name: str, toxic_name: str) -> Toxic:
        toxic = self.get(proxy_name).find_toxic(toxic_name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        return toxic

    def update_toxic(self, proxy_name: str, toxic_name: str, body: Any) -> Toxic:
        """Attributes merge over the current ones; toxicity is kept when omitted.
        Name, type and stream cannot change (Toxiproxy ignores them)."""
        proxy = self.get(proxy_name)
        toxic = proxy.find_toxic(toxic_name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        body = _object(body, "toxic")
        attributes = type(toxic).check_attributes(body.get("attributes"), toxic.attributes)
        toxicity = _field(body, "toxicity", float, "toxic")
        toxicity = toxic.toxicity if toxicity is None else float(toxicity)
        if not 0.0 <= toxicity <= 1.0:
            raise BAD_REQUEST_BODY.joined(f"toxicity must be within 0.0..1.0, got {toxicity}")
        proxy.update_toxic(toxic, attributes, toxicity)
        return toxic

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> Toxic:
        return self.get(proxy_name).remove_toxic(toxic_name)
