"""The link server's HTTP API: Toxiproxy's shapes, codes and semantics, over real HTTP."""

from __future__ import annotations

import socket

import pytest
import requests

from chaoskit.links.server import LinkServer
from chaoskit.testing.links import EchoServer


@pytest.fixture
def srv():
    with LinkServer() as s:
        yield s


@pytest.fixture
def echo():
    with EchoServer() as e:
        yield e


def post(srv, path, body=None, **kw):
    return requests.post(srv.url + path, json=body, timeout=5, **kw)


def mk(srv, name="p", upstream="127.0.0.1:9", **extra):
    r = post(
        srv, "/proxies", {"name": name, "upstream": upstream, "listen": "127.0.0.1:0", **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()


def err(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


def test_version_is_json(srv):
    r = requests.get(srv.url + "/version", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    v = r.json()
    assert v["version"].startswith("2.")
    assert "batch" in v["chaoskit"]["extensions"]


def test_proxy_crud_shapes(srv, echo):
    p = mk(srv, "db", echo.address)
    assert set(p) == {"name", "listen", "upstream", "enabled", "toxics"}
    host, port = p["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # port 0 -> the real port
    assert p["enabled"] is True and p["toxics"] == []

    assert requests.get(srv.url + "/proxies/db", timeout=5).json() == p
    assert requests.get(srv.url + "/proxies", timeout=5).json() == {"db": p}

    # Update keeps omitted fields; PATCH and (deprecated) POST both work.
    r = requests.patch(srv.url + "/proxies/db", json={"enabled": False}, timeout=5)
    assert r.status_code == 200
    assert r.json() == {**p, "enabled": False}
    r = post(srv, "/proxies/db", {"enabled": True})
    assert r.json() == p  # re-enabled on the same port

    r = requests.delete(srv.url + "/proxies/db", timeout=5)
    assert r.status_code == 204 and r.content == b""
    assert requests.get(srv.url + "/proxies", timeout=5).json() == {}


def test_disabled_proxy_refuses_and_drops_open_connections(srv, echo):
    p = mk(srv, "db", echo.address)
    host, port = p["listen"].rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    c.sendall(b"ping")
    assert c.recv(10) == b"ping"
    post(srv, "/proxies/db", {"enabled": False})
    assert c.recv(10) == b""  # the open connection is closed
    c.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)
    post(srv, "/proxies/db", {"enabled": True})
    c = socket.create_connection((host, int(port)), timeout=5)
    c.sendall(b"again")
    assert c.recv(10) == b"again"
    c.close()


def test_created_disabled_does_not_listen(srv):
    r = post(
        srv,
        "/proxies",
        {"name": "d", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0", "enabled": False},
    )
    assert r.status_code == 201
    assert r.json()["enabled"] is False


def test_toxic_crud_defaults_and_update(srv):
    mk(srv, "p")
    r = post(srv, "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 100}})
    assert r.status_code == 200
    t = r.json()
    assert t == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},
    }
    up = post(
        srv,
        "/proxies/p/toxics",
        {"type": "bandwidth", "stream": "upstream", "toxicity": 0.5, "attributes": {"rate": 10}},
    ).json()
    assert up["name"] == "bandwidth_upstream" and up["toxicity"] == 0.5

    # Upstream toxics are listed first, like Toxiproxy's chain order.
    names = [x["name"] for x in requests.get(srv.url + "/proxies/p/toxics", timeout=5).json()]
    assert names == ["bandwidth_upstream", "latency_downstream"]
    assert [
        x["name"] for x in requests.get(srv.url + "/proxies/p", timeout=5).json()["toxics"]
    ] == names

    # Update merges attributes and keeps toxicity when omitted.
    r = requests.patch(
        srv.url + "/proxies/p/toxics/latency_downstream",
        json={"attributes": {"jitter": 5}},
        timeout=5,
    )
    assert r.json()["attributes"] == {"latency": 100, "jitter": 5}
    r = post(srv, "/proxies/p/toxics/latency_downstream", {"toxicity": 0.25})
    assert r.json()["toxicity"] == 0.25 and r.json()["attributes"]["latency"] == 100
    assert (
        requests.get(srv.url + "/proxies/p/toxics/latency_downstream", timeout=5).json()["toxicity"]
        == 0.25
    )

    assert (
        requests.delete(srv.url + "/proxies/p/toxics/latency_downstream", timeout=5).status_code
        == 204
    )
    assert [x["name"] for x in requests.get(srv.url + "/proxies/p/toxics", timeout=5).json()] == [
        "bandwidth_upstream"
    ]


def test_every_toxic_type_is_accepted_with_its_attributes(srv):
    mk(srv, "p")
    cases = {
        "latency": {"latency": 1, "jitter": 0},
        "bandwidth": {"rate": 100},
        "slow_close": {"delay": 10},
        "timeout": {"timeout": 0},
        "reset_peer": {"timeout": 5},
        "slicer": {"average_size": 8, "size_variation": 2, "delay": 10},
        "limit_data": {"bytes": 100},
    }
    for type_, attrs in cases.items():
        r = post(srv, "/proxies/p/toxics", {"type": type_, "name": type_, "attributes": attrs})
        assert r.status_code == 200, r.text
        assert r.json()["attributes"] == attrs


def test_reset_enables_and_clears_toxics(srv):
    mk(srv, "a")
    mk(srv, "b")
    post(srv, "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": 10}})
    post(srv, "/proxies/b", {"enabled": False})
    r = post(srv, "/reset")
    assert r.status_code == 204
    state = requests.get(srv.url + "/proxies", timeout=5).json()
    assert all(p["enabled"] and p["toxics"] == [] for p in state.values())


def test_populate_creates_keeps_and_replaces(srv, echo):
    body = [
        {"name": "one", "listen": "127.0.0.1:0", "upstream": echo.address},
        {"name": "two", "listen": "127.0.0.1:0", "upstream": echo.address, "enabled": False},
    ]
    r = post(srv, "/populate", body)
    assert r.status_code == 201
    got = {p["name"]: p for p in r.json()["proxies"]}
    assert got["one"]["enabled"] is True and got["two"]["enabled"] is False
    post(srv, "/proxies/one/toxics", {"type": "latency", "attributes": {"latency": 5}})
    # Same listen and upstream: kept as is (toxics too); a different upstream replaces.
    again = [
        {"name": "one", "listen": got["one"]["listen"], "upstream": echo.address},
        {"name": "two", "listen": got["two"]["listen"], "upstream": "127.0.0.1:9"},
    ]
    r = post(srv, "/populate", again)
    assert r.status_code == 201
    res = {p["name"]: p for p in r.json()["proxies"]}
    assert len(res["one"]["toxics"]) == 1
    assert res["two"]["upstream"] == "127.0.0.1:9"


def test_populate_validates_before_creating(srv):
    r = post(
        srv,
        "/populate",
        [{"name": "ok", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}, {"name": "bad"}],
    )
    assert "upstream at proxy 2" in err(r, 400)
    assert requests.get(srv.url + "/proxies", timeout=5).json() == {}
    err(post(srv, "/populate", {"not": "a list"}), 400)


def test_error_codes_and_bodies(srv):
    mk(srv, "p")
    # 400: bad bodies and missing fields
    assert "bad request body" in err(
        requests.post(srv.url + "/proxies", data=b"{nope", timeout=5), 400
    )
    assert "bad request body" in err(requests.post(srv.url + "/proxies", data=b"", timeout=5), 400)
    assert err(post(srv, "/proxies", {"upstream": "x:1"}), 400) == "missing required field: name"
    assert err(post(srv, "/proxies", {"name": "n"}), 400) == "missing required field: upstream"
    assert "enabled" in err(
        post(srv, "/proxies", {"name": "n", "upstream": "x:1", "enabled": "yes"}), 400
    )
    assert "stream was invalid" in err(
        post(srv, "/proxies/p/toxics", {"type": "latency", "stream": "sideways"}), 400
    )
    assert err(post(srv, "/proxies/p/toxics", {"type": "nope"}), 400) == "invalid toxic type"
    assert "latency" in err(
        post(srv, "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": -1}}), 400
    )
    assert "average_size" in err(
        post(srv, "/proxies/p/toxics", {"type": "slicer", "attributes": {"average_size": 0}}), 400
    )
    assert "integer" in err(
        post(srv, "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": "10"}}), 400
    )
    assert "toxicity" in err(
        post(srv, "/proxies/p/toxics", {"type": "latency", "toxicity": 2}), 400
    )
    assert "out of range" in err(
        post(srv, "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 2**64}}), 400
    )
    assert "rate" in err(
        post(srv, "/proxies/p/toxics", {"type": "bandwidth", "attributes": {"rate": -5}}), 400
    )
    # 404
    assert err(requests.get(srv.url + "/proxies/none", timeout=5), 404) == "proxy not found"
    assert err(requests.delete(srv.url + "/proxies/none", timeout=5), 404) == "proxy not found"
    assert err(post(srv, "/proxies/none/toxics", {"type": "latency"}), 404) == "proxy not found"
    assert (
        err(requests.get(srv.url + "/proxies/p/toxics/none", timeout=5), 404) == "toxic not found"
    )
    assert (
        err(requests.delete(srv.url + "/proxies/p/toxics/none", timeout=5), 404)
        == "toxic not found"
    )
    assert err(post(srv, "/proxies/p/toxics/none", {"toxicity": 1}), 404) == "toxic not found"
    err(requests.get(srv.url + "/no/such/route", timeout=5), 404)
    # 405: known path, wrong method
    err(requests.put(srv.url + "/proxies", timeout=5), 405)
    # 409
    assert (
        err(post(srv, "/proxies", {"name": "p", "upstream": "x:1", "listen": "127.0.0.1:0"}), 409)
        == "proxy already exists"
    )
    post(srv, "/proxies/p/toxics", {"type": "latency"})
    assert err(post(srv, "/proxies/p/toxics", {"type": "latency"}), 409) == "toxic already exists"
    # 403: Toxiproxy refuses browsers
    err(requests.get(srv.url + "/proxies", headers={"User-Agent": "Mozilla/5.0"}, timeout=5), 403)


def test_listen_address_in_use_is_500(srv):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        r = post(
            srv, "/proxies", {"name": "x", "upstream": "127.0.0.1:9", "listen": f"127.0.0.1:{port}"}
        )
        assert "address already in use" in err(r, 500).lower()
        assert requests.get(srv.url + "/proxies", timeout=5).json() == {}
        assert "missing port" in err(
            post(srv, "/proxies", {"name": "y", "upstream": "u:1", "listen": "nohost"}), 500
        )
    finally:
        taken.close()


def test_malformed_http_does_not_take_the_server_down(srv):
    host, port = srv.url.rsplit("/", 1)[-1].rsplit(":", 1)
    for junk in (
        b"\x00\xff garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /proxies HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n{",
    ):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(junk)
        s.settimeout(2)
        try:
            s.recv(1024)
        except (TimeoutError, ConnectionResetError):
            pass
        s.close()
    assert requests.get(srv.url + "/version", timeout=5).status_code == 200


def test_metrics_count_bytes_per_direction(srv, echo):
    p = mk(srv, "m", echo.address)
    host, port = p["listen"].rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    c.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        got += c.recv(4096)
    c.close()
    text = requests.get(srv.url + "/metrics", timeout=5).text
    assert "# TYPE toxiproxy_proxy_received_bytes_total counter" in text

    def value(metric, direction):
        for line in text.splitlines():
            if (
                line.startswith(metric + "{")
                and f'direction="{direction}"' in line
                and 'proxy="m"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{metric} {direction} missing:\n{text}")

    for d in ("upstream", "downstream"):
        assert value("toxiproxy_proxy_received_bytes_total", d) == 1000
        assert value("toxiproxy_proxy_sent_bytes_total", d) == 1000


def test_batch_is_all_or_nothing(srv):
    mk(srv, "a")
    mk(srv, "b")
    ops = [
        {
            "op": "add_toxic",
            "proxy": "a",
            "toxic": {"name": "cut", "type": "timeout", "attributes": {"timeout": 0}},
        },
        {"op": "update_proxy", "proxy": "b", "enabled": False},
        {"op": "add_toxic", "proxy": "missing", "toxic": {"type": "timeout"}},
    ]
    r = post(srv, "/chaoskit/batch", {"ops": ops})
    e = err(r, 404)
    assert r.json()["op"] == 2 and "proxy not found" in e
    state = requests.get(srv.url + "/proxies", timeout=5).json()
    assert state["a"]["toxics"] == [] and state["b"]["enabled"] is True  # rolled back

    r = post(srv, "/chaoskit/batch", {"ops": ops[:2]})
    assert r.status_code == 200
    res = r.json()["results"]
    assert res[1]["previous"]["enabled"] is True
    state = requests.get(srv.url + "/proxies", timeout=5).json()
    assert state["a"]["toxics"][0]["name"] == "cut" and state["b"]["enabled"] is False
    err(post(srv, "/chaoskit/batch", {"ops": [{"op": "explode", "proxy": "a"}]}), 400)
    err(post(srv, "/chaoskit/batch", [1, 2]), 400)


def test_populate_failure_reports_what_was_created(srv):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        body = [
            {"name": "first", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
            {"name": "second", "upstream": "127.0.0.1:9", "listen": f"127.0.0.1:{port}"},
        ]
        r = post(srv, "/populate", body)
        err(r, 500)
        assert [p["name"] for p in r.json()["proxies"]] == ["first"]
    finally:
        taken.close()


def test_bad_toxic_update_changes_nothing(srv):
    mk(srv, "p")
    post(srv, "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 10}})
    err(
        requests.patch(
            srv.url + "/proxies/p/toxics/latency_downstream",
            json={"attributes": {"latency": -3}},
            timeout=5,
        ),
        400,
    )
    err(requests.patch(srv.url + "/proxies/p/toxics/latency_downstream", data=b"[", timeout=5), 400)
    err(requests.patch(srv.url + "/proxies/p", data=b"nope", timeout=5), 400)
    t = requests.get(srv.url + "/proxies/p/toxics/latency_downstream", timeout=5).json()
    assert t["attributes"]["latency"] == 10


def test_junk_bodies_get_4xx_never_500(srv):
    mk(srv, "p")
    post(srv, "/proxies/p/toxics", {"type": "latency", "name": "t"})
    junk = [
        None,
        [],
        "str",
        1,
        1.5,
        True,
        {},
        [1, 2],
        {"name": 1},
        {"name": "x", "upstream": ["a"]},
        {"name": "x", "upstream": "u:1", "listen": 5},
        {"type": None},
        {"type": "latency", "attributes": [1]},
        {"type": "latency", "attributes": {"latency": None}},
        {"type": "latency", "attributes": {"latency": True}},
        {"type": "latency", "toxicity": "x"},
        {"type": "latency", "stream": 5},
        {"type": "latency", "name": 7},
        {"attributes": {"jitter": -1}},
        {"toxicity": -0.1},
        {"type": "latency", "attributes": {"latency": 2**64}},
        {"attributes": {"latency": 2**70}},
        {"enabled": None, "listen": None},
        {"ops": [None]},
        {"ops": "x"},
        {"ops": [{"op": "add_toxic"}]},
        {"ops": [{"op": "create_proxy", "proxy": 3}]},
        {"a": {"b": {"c": [[[[[]]]]]}}},
    ]
    paths = [
        ("POST", "/proxies"),
        ("POST", "/populate"),
        ("POST", "/proxies/p"),
        ("PATCH", "/proxies/p"),
        ("POST", "/proxies/p/toxics"),
        ("POST", "/proxies/p/toxics/t"),
        ("PATCH", "/proxies/p/toxics/t"),
        ("POST", "/chaoskit/batch"),
    ]
    for method, path in paths:
        for body in junk:
            r = requests.request(method, srv.url + path, json=body, timeout=5)
            assert r.status_code < 500, (method, path, body, r.status_code, r.text)
            if r.status_code >= 400:
                assert r.json()["status"] == r.status_code
    for raw in (b"\xff\xfe", b"{" * 10000, b"[" * 100000, b'{"name": "\\ud800"}'):
        r = requests.post(srv.url + "/proxies", data=raw, timeout=5)
        assert r.status_code == 400, r.text
    assert requests.get(srv.url + "/version", timeout=5).status_code == 200
