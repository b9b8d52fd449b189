"""chaoskit extension: `POST /chaoskit/batch`, many changes in one request,
all-or-nothing.

Body: ``{"ops": [op, ...]}``; each op is an object with an ``"op"`` key:

  {"op": "create_proxy", "proxy": {name, listen, upstream, enabled}, "replace": false}
  {"op": "delete_proxy", "proxy": NAME, "missing_ok": false}
  {"op": "update_proxy", "proxy": NAME, "enabled"?, "listen"?, "upstream"?}
  {"op": "add_toxic",    "proxy": NAME, "toxic": {...toxic JSON...}, "exists_ok": false}
  {"op": "set_toxic",    "proxy": NAME, "toxic": {...}}   create, or update attributes/toxicity
  {"op": "update_toxic", "proxy": NAME, "toxic": TOXIC_NAME, "attributes"?, "toxicity"?}
  {"op": "remove_toxic", "proxy": NAME, "toxic": TOXIC_NAME, "missing_ok": false}

Ops apply in order. If one fails, the ones before it are undone in reverse order
and the response is the failing op's error, with ``"op": index`` added. On
success: 200 ``{"results": [...]}``, one entry per op (the proxy or toxic JSON
after the op; ``update_proxy`` adds ``"previous"``, skipped ops give
``{"skipped": true}``). The whole batch runs under the core's lock, and apart from
binding listeners no op yields to the event loop, so other clients never see half
of a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chaoskit.links.core import LinkCore
from chaoskit.links.errors import BAD_REQUEST_BODY, ApiError

log = logging.getLogger("chaoskit.links")

Undo = Callable[[], Awaitable[None]]


async def _restore_proxy(core: LinkCore, snapshot: dict[str, Any]) -> None:
    """Recreate a proxy from its JSON (connections are gone, toxics come back)."""
    await core.create_proxy(
        {
            "name": snapshot["name"],
            "listen": snapshot["listen"],
            "upstream": snapshot["upstream"],
            "enabled": snapshot["enabled"],
        }
    )
    for t in snapshot["toxics"]:
        core.add_toxic(snapshot["name"], t)


async def _op(core: LinkCore, op: dict[str, Any], undo: list[Undo]) -> dict[str, Any]:
    kind = op.get("op")
    name = op.get("proxy")
    if kind == "create_proxy":
        body = op.get("proxy")
        pname = body.get("name") if isinstance(body, dict) else None
        if op.get("replace") and isinstance(pname, str) and pname in core.proxies:
            old = core.proxies[pname].to_json()
            core.delete_proxy(pname)
            undo.append(lambda: _restore_proxy(core, old))
        proxy = await core.create_proxy(body)
        undo.append(_async(lambda: core.delete_proxy(proxy.name)))
        return proxy.to_json()
    if not isinstance(name, str):
        raise BAD_REQUEST_BODY.joined(f'{kind} needs "proxy": a proxy name')
    if kind == "delete_proxy":
        if op.get("missing_ok") and name not in core.proxies:
            return {"skipped": True}
        old = core.get(name).to_json()
        core.delete_proxy(name)
        undo.append(lambda: _restore_proxy(core, old))
        return {"deleted": name}
    if kind == "update_proxy":
        before = core.get(name).to_json()
        body = {k: op[k] for k in ("listen", "upstream", "enabled") if k in op}
        proxy = await core.update_proxy(name, body)
        prev = {k: before[k] for k in ("listen", "upstream", "enabled")}
        undo.append(lambda: _async_call(core.update_proxy(name, prev)))
        return {**proxy.to_json(), "previous": prev}
    if kind in ("add_toxic", "set_toxic"):
        body = op.get("toxic")
        proxy = core.get(name)
        tname = _toxic_name(body)
        existing = proxy.find_toxic(tname) if tname else None
        if existing is not None and kind == "set_toxic":
            before = existing.to_json()
            toxic = core.update_toxic(name, tname, body)
            undo.append(_async(lambda: core.update_toxic(name, tname, before)))
            return toxic.to_json()
        if existing is not None and op.get("exists_ok"):
            return {"skipped": True, **existing.to_json()}
        toxic = core.add_toxic(name, body)
        undo.append(_async(lambda: core.remove_toxic(name, toxic.name)))
        return toxic.to_json()
    if kind == "update_toxic":
        tname = op.get("toxic")
        if not isinstance(tname, str):
            raise BAD_REQUEST_BODY.joined('update_toxic needs "toxic": a toxic name')
        before = core.get_toxic(name, tname).to_json()
        body = {k: op[k] for k in ("attributes", "toxicity") if k in op}
        toxic = core.update_toxic(name, tname, body)
        undo.append(_async(lambda: core.update_toxic(name, tname, before)))
        return toxic.to_json()
    if kind == "remove_toxic":
        tname = op.get("toxic")
        if not isinstance(tname, str):
            raise BAD_REQUEST_BODY.joined('remove_toxic needs "toxic": a toxic name')
        proxy = core.get(name)
        if op.get("missing_ok") and proxy.find_toxic(tname) is None:
            return {"skipped": True}
        removed = core.remove_toxic(name, tname).to_json()
        undo.append(_async(lambda: core.add_toxic(name, removed)))
        return {"removed": tname}
    raise BAD_REQUEST_BODY.joined(
        f"unknown op {kind!r}; valid: create_proxy, delete_proxy, update_proxy, "
        "add_toxic, set_toxic, update_toxic, remove_toxic"
    )


def _toxic_name(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("name"), str) and body["name"]:
        return body["name"]
    stream = body.get("stream") or "downstream"
    if isinstance(body.get("type"), str) and isinstance(stream, str):
        return f"{body['type']}_{stream.lower()}"
    return None


def _async(fn: Callable[[], Any]) -> Undo:
    async def run() -> None:
        fn()

    return run


async def _async_call(aw: Awaitable[Any]) -> None:
    await aw


async def apply_batch(core: LinkCore, body: Any) -> list[dict[str, Any]]:
    """Apply every op or none. Raises ApiError (with `.op` set) on the first failure."""
    ops = body.get("ops") if isinstance(body, dict) else None
    if not isinstance(ops, list):
        raise BAD_REQUEST_BODY.joined('batch expects {"ops": [...]}')
    undo: list[Undo] = []
    results: list[dict[str, Any]] = []
    for i, op in enumerate(ops):
        try:
            if not isinstance(op, dict):
                raise BAD_REQUEST_BODY.joined(f"op {i} must be a JSON object")
            results.append(await _op(core, op, undo))
        except ApiError as e:
            for u in reversed(undo):
                try:
                    await u()
                except Exception:  # keep undoing the rest; report the original error
                    log.exception("batch rollback step failed")
            kind = op.get("op") if isinstance(op, dict) else None
            err = ApiError(f"op {i} ({kind}): {e.message}", e.status)
            err.op = i  # type: ignore[attr-defined]
            raise err from None
    return results
