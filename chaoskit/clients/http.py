"""The `http` client protocol: each workload operation is one HTTP request.

    client:
      protocol: http
      headers: {Content-Type: application/json}
      ok: [2xx]                 # statuses that mean "took effect" (default 2xx)
      fail: [4xx]               # statuses that mean "certainly no effect" (default 4xx)
      read:  {method: GET, path: "/kv/{key}", value: "json:value", absent: [404]}
      write: {method: PUT, path: "/kv/{key}", body: '{"value": {value}}'}
      cas:   {method: POST, path: "/cas/{key}", body: '{"from": {expected}, "to": {new}}',
              mismatch: [409]}
      add:   {method: POST, path: "/set/{key}", body: "{value}"}
      read-all: {method: GET, path: "/set/{key}", value: "json:items"}

Placeholders (chaoskit.clients.templating) are URL-quoted in `path` and written as
JSON in `body`. `value` says where a read finds its value: `body` (the whole body,
JSON when it parses) or `json:<dotted path>`. Outcomes, honestly:

- ok: a status in `ok` (a read: its value; `absent` statuses read "no value");
- fail: a status in `fail`, a cas status in `mismatch` (marked cas-mismatch), a
  refused connection (nothing was sent), and every read that did not succeed;
- info: anything else -- a timeout, a connection lost after sending, a status
  in neither list (5xx by default): the request may have taken effect.

Stdlib only (http.client), so it works inside the gevent-patched Locust process.
"""

from __future__ import annotations

import http.client
import json
import select
from typing import Any

from chaoskit.clients.statuses import check_codes, parse_codes
from chaoskit.clients.templating import (
    OPERATIONS,
    as_json,
    as_url,
    check_operations,
    dig,
    fields,
    parse_set,
    parse_value,
    render,
    unknown_placeholders,
)
from chaoskit.systems.base import CAS_MISMATCH, Client, Outcome, unknown_names
from chaoskit.systems.httpconn import OneWriteHTTPConnection

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OPTION_KEYS = ("protocol", "headers", "ok", "fail", *OPERATIONS)
OP_KEYS = ("method", "path", "body", "value", "absent", "mismatch")
READS = ("read", "read-all")


class HttpClient(Client):
    def __init__(self, options: dict, host: str, port: int, timeout_s: float) -> None:
        self.options = options
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.headers = {str(k): str(v) for k, v in (options.get("headers") or {}).items()}
        self.ok = parse_codes(options.get("ok", "2xx"))
        self.fail = parse_codes(options.get("fail", "4xx"))
        self._conn: OneWriteHTTPConnection | None = None

    @classmethod
    def check_options(cls, options: dict) -> list[tuple[str, str]]:
        problems = unknown_names(options, OPTION_KEYS, "http client field")
        headers = options.get("headers")
        if headers is not None and not isinstance(headers, dict):
            problems.append(("headers", "must map header name -> value"))
        problems += check_codes(options, "ok") + check_codes(options, "fail")
        problems += check_operations(
            options, lambda op, spec: [(f"{op}.{p}", m) for p, m in _check_op(op, spec)]
        )
        return problems

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def invoke(self, f: str, key: str, value: Any) -> Outcome:
        spec = self.options.get(f)
        where = f"{self.host}:{self.port}"
        if not isinstance(spec, dict):
            return Outcome("fail", None, f"the http client describes no {f!r} request")
        values = fields(f, key, value, self.host, self.port)
        path = render(str(spec["path"]), values, as_url)
        body = spec.get("body")
        data = render(str(body), values, as_json).encode() if body is not None else None
        method = str(spec.get("method", "GET" if f in READS else "POST")).upper()
        if self._conn is not None and not _still_open(self._conn):
            self.close()  # the server closed the kept-alive connection: nothing sent yet
        if self._conn is None:
            conn = OneWriteHTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                conn.connect()
            except OSError as e:
                conn.close()
                return Outcome("fail", None, f"{where}: cannot connect: {e.strerror or e!r}")
            self._conn = conn
        try:
            self._conn.request_in_one_write(method, path, data, self.headers)
            resp = self._conn.getresponse()
            raw = resp.read()
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            self.close()
            what = "timed out" if isinstance(e, TimeoutError) else f"connection lost: {e!r}"
            return Outcome("fail" if f in READS else "info", None, f"{where}: {what}")
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        status = resp.status
        error = f"{where}: {method} {path}: HTTP {status}: {raw[:200].decode(errors='replace')}"
        if f == "read" and status in parse_codes(spec.get("absent", [404])):
            return Outcome("ok", None)
        if f == "cas" and status in parse_codes(spec.get("mismatch", [])):
            return Outcome("fail", None, f"{CAS_MISMATCH}: {error}")
        if status in self.ok:
            if f not in READS:
                return Outcome("ok", value)
            try:
                return Outcome("ok", _read_value(f, spec.get("value", "body"), raw))
            except (KeyError, IndexError, ValueError) as e:
                return Outcome("fail", None, f"{where}: cannot read the value ({e!r}): {error}")
        if f in READS or status in self.fail:
            return Outcome("fail", None, error)
        return Outcome("info", None, error)


def _still_open(conn: OneWriteHTTPConnection) -> bool:
    """A kept-alive connection the server has not closed (not readable at EOF)."""
    if conn.sock is None:
        return False
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _read_value(f: str, where: str, raw: bytes) -> Any:
    text = raw.decode(errors="replace")
    if where == "body":
        return parse_set(text) if f == "read-all" else parse_value(text)
    doc = dig(json.loads(text), where.removeprefix("json:").strip())
    if f == "read-all":
        return doc if isinstance(doc, list) else parse_set(str(doc))
    return parse_value(doc) if isinstance(doc, str) else doc


def _check_op(op: str, spec: Any) -> list[tuple[str, str]]:
    if not isinstance(spec, dict):
        return [
            (
                "",
                f"must be a mapping with {', '.join(OP_KEYS)}; e.g. {{method: GET, path: /kv/{{key}}}}",
            )
        ]
    out: list[tuple[str, str]] = []
    for k in spec:
        if k not in OP_KEYS:
            out.append((k, f"unknown field; valid: {', '.join(OP_KEYS)}"))
    method = str(spec.get("method", "GET")).upper()
    if method not in METHODS:
        out.append(("method", f"{spec.get('method')!r}; valid: {', '.join(METHODS)}"))
    path = spec.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        out.append(("path", f"needs a path starting with '/', e.g. /kv/{{key}}; got {path!r}"))
    else:
        for name in unknown_placeholders(path, op):
            out.append(("path", f"unknown placeholder {{{name}}} for {op}; {_valid(op)}"))
    body = spec.get("body")
    if body is not None:
        if not isinstance(body, str):
            out.append(("body", "must be text (a template), e.g. '{\"value\": {value}}'"))
        else:
            for name in unknown_placeholders(body, op):
                out.append(("body", f"unknown placeholder {{{name}}} for {op}; {_valid(op)}"))
    value = spec.get("value")
    if value is not None:
        if op not in READS:
            out.append(("value", "only reads (read, read-all) read a value"))
        elif not isinstance(value, str) or not (value == "body" or value.startswith("json:")):
            out.append(("value", f"{value!r}; valid: body, json:<dotted path> (e.g. json:value)"))
    if "absent" in spec:
        out += [("absent", m) for _, m in check_codes(spec, "absent")]
        if op != "read":
            out.append(("absent", "only read has absent statuses"))
    if "mismatch" in spec:
        out += [("mismatch", m) for _, m in check_codes(spec, "mismatch")]
        if op != "cas":
            out.append(("mismatch", "only cas has mismatch statuses"))
    return out


def _valid(op: str) -> str:
    from chaoskit.clients.templating import FILLED

    names = [*FILLED[op], "host", "port"]
    return "valid: " + ", ".join("{" + n + "}" for n in names)
