"""The harness's handle on the links: build every link of an address plan, then
cut, heal, re-latency and poison sets of links in one go.

Works against chaoskit's link server and against a real Toxiproxy server (plain
Toxiproxy API). Every operation is all-or-nothing from the caller's view:

1. one GET /proxies snapshot; unknown link names, toxics that already exist, ...
   raise `LinkError` before anything changes;
2. the exact changes are computed from the snapshot;
3. on chaoskit's server they go in one `POST /chaoskit/batch` (applied or rolled
   back as a whole by the server); on a plain Toxiproxy they are sent one by one,
   and if one fails the ones already done are undone in reverse order.

Cut state lives on the server (so a second LinkControl, e.g. the engine's
safety net, can heal what another one cut), as toxics with reserved names:
  chaoskit_cut_upstream / chaoskit_cut_downstream
      type timeout (timeout 0) = blackhole: bytes silently dropped;
      type reset_peer (timeout 0) = one-way refuse: the connection is reset
  chaoskit_cut_refuse
      a 0 ms latency marker on a proxy that `cut(mode="refuse")` disabled
      (enabled:false); heal re-enables exactly those proxies.
Link latency uses Toxiproxy's default toxic names latency_upstream and
latency_downstream (one-way latency each; jitter/2 each).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests

from chaoskit.access import LINKS_TOKEN_ENV, TOKEN_HEADER
from chaoskit.topology.model import AddressPlan, Latency

log = logging.getLogger("chaoskit.links.control")

STREAMS = ("upstream", "downstream")
CUT_PREFIX = "chaoskit_cut_"
REFUSE_MARKER = "chaoskit_cut_refuse"
DIRECTIONS = ("both", "upstream", "downstream")
MODES = ("blackhole", "refuse")


def latency_toxic_name(stream: str) -> str:
    return f"latency_{stream}"


def cut_toxic_name(stream: str) -> str:
    return f"{CUT_PREFIX}{stream}"


class LinkError(RuntimeError):
    """A link operation failed (nothing was changed, or the change was rolled back)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def cut_region_names(plan: AddressPlan, region: str) -> list[str]:
    """Every link into and out of `region` (what cutting the region touches)."""
    if not any(region in (s.source_region, s.dest_region) for s in plan.links.values()):
        regions = sorted(
            {s.source_region for s in plan.links.values()}
            | {s.dest_region for s in plan.links.values()}
        )
        if region not in regions:
            raise ValueError(
                f"no links touch region {region!r}; regions with links: {', '.join(regions) or 'none'}"
            )
    return sorted(s.name for s in plan.links_touching(region))


def pair_link_names(plan: AddressPlan, a: str, b: str) -> list[str]:
    """Every link between regions `a` and `b`, both ways."""
    return sorted(
        s.name for s in plan.links.values() if (s.source_region, s.dest_region) in ((a, b), (b, a))
    )


def one_way_names(plan: AddressPlan, src: str, dst: str) -> dict[str, list[str]]:
    """For a cut of traffic from region `src` to region `dst` only: on links opened
    by src towards dst's nodes that is the upstream stream, on links opened by dst
    towards src's nodes the downstream stream. Returns {"upstream": [...], "downstream": [...]}."""
    up = sorted(
        s.name for s in plan.links.values() if s.source_region == src and s.dest_region == dst
    )
    down = sorted(
        s.name for s in plan.links.values() if s.source_region == dst and s.dest_region == src
    )
    return {"upstream": up, "downstream": down}


def _latency_attrs(latency: Latency) -> dict[str, int]:
    # Toxiproxy takes whole milliseconds; each direction carries half the RTT.
    return {"latency": int(latency.one_way_ms + 0.5), "jitter": int(latency.jitter_ms / 2.0 + 0.5)}


class LinkControl:
    """Client of a link server (chaoskit's or Toxiproxy's).

    use_batch: None = detect the /chaoskit/batch extension via GET /version;
    False = plain Toxiproxy requests only (what a real Toxiproxy gets).
    """

    def __init__(
        self,
        api_url: str,
        timeout_s: float = 5.0,
        use_batch: bool | None = None,
        token: str | None = None,
    ) -> None:
        """`token`: sent on every request (a link server bound beyond loopback requires
        it; chaoskit.access); default $CHAOSKIT_LINKS_TOKEN."""
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self._use_batch = use_batch
        self._http = requests.Session()
        token = token or os.environ.get(LINKS_TOKEN_ENV)
        if token:
            self._http.headers[TOKEN_HEADER] = token
        self._lock = threading.RLock()  # one operation at a time per controller

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LinkControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, body: Any = None, ok: Iterable[int] = (200, 201, 204)
    ) -> Any:
        url = self.api_url + path
        try:
            r = self._http.request(method, url, json=body, timeout=self.timeout_s)
        except requests.RequestException as e:
            raise LinkError(
                f"link server at {self.api_url} unreachable ({method} {path}): {e}"
            ) from None
        if r.status_code not in ok:
            try:
                msg = r.json().get("error") or r.json().get("title") or r.text
            except ValueError:
                msg = r.text.strip()
            raise LinkError(f"{method} {path}: {r.status_code} {msg}", r.status_code)
        if r.status_code == 204 or not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            return r.text

    def wait_ready(self, deadline_s: float = 10.0) -> None:
        """Poll GET /version until the server answers (and learn whether it batches)."""
        end = time.monotonic() + deadline_s
        last: Exception | None = None
        while True:
            try:
                self._detect()
                return
            except LinkError as e:
                last = e
            if time.monotonic() >= end:
                raise LinkError(
                    f"link server at {self.api_url} not ready after {deadline_s} s: {last}"
                )
            time.sleep(0.05)

    def _detect(self) -> bool:
        if self._use_batch is None:
            v = self._request("GET", "/version")
            ext = v.get("chaoskit", {}).get("extensions", []) if isinstance(v, dict) else []
            self._use_batch = "batch" in ext
        return self._use_batch

    def _snapshot(self) -> dict[str, dict[str, Any]]:
        return self._request("GET", "/proxies") or {}

    @staticmethod
    def _require(snap: dict[str, Any], names: Iterable[str]) -> None:
        missing = sorted(set(names) - set(snap))
        if missing:
            known = ", ".join(sorted(snap)[:10]) + (" ..." if len(snap) > 10 else "")
            raise LinkError(
                f"unknown link(s): {', '.join(missing)} (known: {known or 'none'})", 404
            )

    # -- applying changes ----------------------------------------------------------------

    def _apply(self, ops: list[dict[str, Any]], snap: dict[str, Any]) -> list[dict[str, Any]]:
        if not ops:
            return []
        if self._detect():
            try:
                return self._request("POST", "/chaoskit/batch", {"ops": ops})["results"]
            except LinkError as e:
                raise LinkError(f"batch failed, nothing changed: {e}", e.status) from None
        return self._sequential(ops, copy.deepcopy(snap))

    def _sequential(self, ops: list[dict[str, Any]], snap: dict[str, Any]) -> list[dict[str, Any]]:
        undo: list[Callable[[], None]] = []
        results: list[dict[str, Any]] = []
        try:
            for op in ops:
                results.append(self._one(op, snap, undo))
        except LinkError as e:
            for u in reversed(undo):
                try:
                    u()
                except LinkError as ue:  # keep going: undo as much as possible
                    log.error("rollback step failed: %s", ue)
            raise LinkError(f"{e} (rolled back {len(undo)} change(s))", e.status) from None
        return results

    def _one(
        self, op: dict[str, Any], snap: dict[str, Any], undo: list[Callable[[], None]]
    ) -> dict[str, Any]:
        kind, name = op["op"], op.get("proxy")
        if kind == "create_proxy":
            body = op["proxy"]
            res = self._request("POST", "/proxies", body)
            snap[body["name"]] = res
            undo.append(lambda: self._request("DELETE", f"/proxies/{quote(body['name'], safe='')}"))
            return res
        p = f"/proxies/{quote(name, safe='')}"
        if kind == "delete_proxy":
            old = snap.pop(name)
            self._request("DELETE", p)
            undo.append(lambda: self._recreate(old))
            return {"deleted": name}
        if kind == "update_proxy":
            prev = {k: snap[name][k] for k in ("listen", "upstream", "enabled")}
            body = {k: op[k] for k in ("listen", "upstream", "enabled") if k in op}
            res = self._request("POST", p, body)
            snap[name] = res
            undo.append(lambda: self._request("POST", p, {"enabled": prev["enabled"]}))
            return {**res, "previous": prev}
        if kind == "add_toxic":
            res = self._request("POST", f"{p}/toxics", op["toxic"])
            tp = f"{p}/toxics/{quote(res['name'], safe='')}"
            undo.append(lambda: self._request("DELETE", tp))
            return res
        tname = op["toxic"]
        tp = f"{p}/toxics/{quote(tname, safe='')}"
        old_t = next(t for t in snap[name]["toxics"] if t["name"] == tname)
        if kind == "update_toxic":
            body = {k: op[k] for k in ("attributes", "toxicity") if k in op}
            res = self._request("POST", tp, body)
            undo.append(
                lambda: self._request(
                    "POST", tp, {"attributes": old_t["attributes"], "toxicity": old_t["toxicity"]}
                )
            )
            return res
        if kind == "remove_toxic":
            self._request("DELETE", tp)
            snap[name]["toxics"] = [t for t in snap[name]["toxics"] if t["name"] != tname]
            undo.append(lambda: self._request("POST", f"{p}/toxics", old_t))
            return {"removed": tname}
        raise ValueError(f"unknown op {kind!r}")

    def _recreate(self, old: dict[str, Any]) -> None:
        body = {k: old[k] for k in ("name", "listen", "upstream", "enabled")}
        self._request("POST", "/proxies", body)
        for t in old.get("toxics", []):
            self._request("POST", f"/proxies/{quote(old['name'], safe='')}/toxics", t)

    # -- the operations ---------------------------------------------------------------------

    def build(self, plan: AddressPlan) -> dict[str, str]:
        """Create every link of the plan (a proxy of the same name is replaced), each
        with its latency toxics. Returns {link name: bound listen address}."""
        with self._lock:
            snap = self._snapshot()
            ops: list[dict[str, Any]] = []
            for spec in sorted(plan.links.values(), key=lambda s: s.name):
                if spec.name in snap:
                    ops.append({"op": "delete_proxy", "proxy": spec.name})
                ops.append(
                    {
                        "op": "create_proxy",
                        "proxy": {
                            "name": spec.name,
                            "listen": str(spec.listen),
                            "upstream": str(spec.upstream),
                            "enabled": True,
                        },
                    }
                )
                attrs = _latency_attrs(spec.latency)
                if attrs["latency"] or attrs["jitter"]:
                    for stream in STREAMS:
                        ops.append(
                            {
                                "op": "add_toxic",
                                "proxy": spec.name,
                                "toxic": {
                                    "name": latency_toxic_name(stream),
                                    "type": "latency",
                                    "stream": stream,
                                    "toxicity": 1.0,
                                    "attributes": attrs,
                                },
                            }
                        )
            results = self._apply(ops, snap)
            return {
                r["name"]: r["listen"]
                for r, op in zip(results, ops, strict=True)
                if op["op"] == "create_proxy"
            }

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._snapshot())

    def cut(self, names: list[str], direction: str = "both", mode: str = "blackhole") -> None:
        """Cut links. blackhole: data silently dropped on the cut stream(s) (clients
        time out: indeterminate); refuse: the proxy is disabled, connections are
        closed and refused (certain, fast failures); a one-way refuse resets
        connections when data flows the cut way. Already-cut streams are left as they are."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        streams = STREAMS if direction == "both" else (direction,)
        with self._lock:
            snap = self._snapshot()
            self._require(snap, names)
            ops: list[dict[str, Any]] = []
            for n in sorted(set(names)):
                have = {t["name"] for t in snap[n]["toxics"]}
                if mode == "refuse" and direction == "both":
                    if snap[n]["enabled"] and REFUSE_MARKER not in have:
                        ops.append({"op": "add_toxic", "proxy": n, "toxic": _marker()})
                        ops.append({"op": "update_proxy", "proxy": n, "enabled": False})
                    continue
                for s in streams:
                    if cut_toxic_name(s) not in have:
                        ops.append({"op": "add_toxic", "proxy": n, "toxic": _cut_toxic(s, mode)})
            self._apply(ops, snap)

    def heal(self, names: list[str]) -> None:
        """Undo every cut on these links (unknown or uncut names are fine: a safety
        net may heal what was never cut). Latency and other toxics stay."""
        with self._lock:
            snap = self._snapshot()
            ops: list[dict[str, Any]] = []
            for n in sorted(set(names)):
                if n not in snap:
                    continue
                have = [t["name"] for t in snap[n]["toxics"]]
                for s in STREAMS:
                    if cut_toxic_name(s) in have:
                        ops.append({"op": "remove_toxic", "proxy": n, "toxic": cut_toxic_name(s)})
                if REFUSE_MARKER in have:
                    ops.append({"op": "remove_toxic", "proxy": n, "toxic": REFUSE_MARKER})
                    if not snap[n]["enabled"]:
                        ops.append({"op": "update_proxy", "proxy": n, "enabled": True})
            self._apply(ops, snap)

    def set_latency(self, names: list[str], latency: Latency) -> None:
        """Set the links' RTT (half each way) and jitter (half each way); 0 removes."""
        attrs = _latency_attrs(latency)
        with self._lock:
            snap = self._snapshot()
            self._require(snap, names)
            ops: list[dict[str, Any]] = []
            for n in sorted(set(names)):
                have = {t["name"]: t for t in snap[n]["toxics"]}
                for s in STREAMS:
                    tname = latency_toxic_name(s)
                    cur = have.get(tname)
                    if not (attrs["latency"] or attrs["jitter"]):
                        if cur is not None:
                            ops.append({"op": "remove_toxic", "proxy": n, "toxic": tname})
                    elif cur is None:
                        toxic = {
                            "name": tname,
                            "type": "latency",
                            "stream": s,
                            "toxicity": 1.0,
                            "attributes": attrs,
                        }
                        ops.append({"op": "add_toxic", "proxy": n, "toxic": toxic})
                    elif {k: cur["attributes"].get(k) for k in attrs} != attrs:
                        ops.append(
                            {"op": "update_toxic", "proxy": n, "toxic": tname, "attributes": attrs}
                        )
            self._apply(ops, snap)

    def add_toxic(
        self,
        names: list[str],
        type: str,
        attributes: dict[str, Any],
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> None:
        """Add one toxic to each link (all or none; an existing name is an error)."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be upstream or downstream, got {stream!r}")
        tname = name or f"{type}_{stream}"
        toxic = {
            "name": tname,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        with self._lock:
            snap = self._snapshot()
            self._require(snap, names)
            taken = [n for n in names if any(t["name"] == tname for t in snap[n]["toxics"])]
            if taken:
                raise LinkError(
                    f"toxic {tname!r} already exists on: {', '.join(sorted(taken))}", 409
                )
            ops = [
                {"op": "add_toxic", "proxy": n, "toxic": dict(toxic)} for n in sorted(set(names))
            ]
            self._apply(ops, snap)

    def remove_toxic(self, names: list[str], name: str, missing_ok: bool = False) -> None:
        """Remove a toxic from each link (all or none)."""
        with self._lock:
            snap = self._snapshot()
            if missing_ok:
                names = [n for n in names if n in snap]
            self._require(snap, names)
            ops = []
            for n in sorted(set(names)):
                if any(t["name"] == name for t in snap[n]["toxics"]):
                    ops.append({"op": "remove_toxic", "proxy": n, "toxic": name})
                elif not missing_ok:
                    raise LinkError(f"toxic {name!r} not found on link {n}", 404)
            self._apply(ops, snap)

    def state(self) -> dict[str, dict[str, Any]]:
        """name -> {"enabled", "cut": None|"both"|"upstream"|"downstream",
        "mode": None|"blackhole"|"refuse", "listen", "upstream", "toxics": [...]}."""
        with self._lock:
            snap = self._snapshot()
        out: dict[str, dict[str, Any]] = {}
        for n, p in snap.items():
            toxics = {t["name"]: t for t in p.get("toxics", [])}
            cut: str | None = None
            mode: str | None = None
            if REFUSE_MARKER in toxics or not p["enabled"]:
                cut, mode = "both", "refuse"
            else:
                cut_streams = [s for s in STREAMS if cut_toxic_name(s) in toxics]
                if cut_streams:
                    cut = "both" if len(cut_streams) == 2 else cut_streams[0]
                    types = {toxics[cut_toxic_name(s)]["type"] for s in cut_streams}
                    mode = "blackhole" if types == {"timeout"} else "refuse"
            out[n] = {
                "enabled": p["enabled"],
                "cut": cut,
                "mode": mode,
                "listen": p["listen"],
                "upstream": p["upstream"],
                "toxics": list(p.get("toxics", [])),
            }
        return out

    def reset(self) -> None:
        """Toxiproxy's POST /reset: every proxy enabled, every toxic removed (latency too)."""
        with self._lock:
            self._request("POST", "/reset")


def _cut_toxic(stream: str, mode: str) -> dict[str, Any]:
    return {
        "name": cut_toxic_name(stream),
        "type": "timeout" if mode == "blackhole" else "reset_peer",
        "stream": stream,
        "toxicity": 1.0,
        "attributes": {"timeout": 0},
    }


def _marker() -> dict[str, Any]:
    return {
        "name": REFUSE_MARKER,
        "type": "latency",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {"latency": 0, "jitter": 0},
    }
