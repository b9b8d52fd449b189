"""The PyPI client toxiproxy-python, unchanged, against chaoskit's link server."""

from __future__ import annotations

import socket
import time

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from chaoskit.links.server import LinkServer
from chaoskit.testing.links import EchoServer


@pytest.fixture
def tp():
    old = (APIConsumer.host, APIConsumer.port)
    with LinkServer() as srv, EchoServer() as echo:
        client = Toxiproxy()
        client.update_api_consumer("127.0.0.1", srv.port)
        client.echo = echo
        yield client
    APIConsumer.host, APIConsumer.port = old


def roundtrip_ms(addr: str) -> float:
    """Best of 3 round trips on one connection: a toxic delays every one of them,
    while one scheduling stall of a loaded machine only delays one."""
    host, port = addr.rsplit(":", 1)
    samples = []
    with socket.create_connection((host, int(port)), timeout=5) as c:
        for _ in range(3):
            t = time.perf_counter()
            c.sendall(b"x")
            assert c.recv(1) == b"x"
            samples.append((time.perf_counter() - t) * 1000)
    return min(samples)


def test_toxiproxy_python_round_trip(tp):
    assert tp.running()
    assert b'"version"' in tp.version()
    proxy = tp.create(upstream=tp.echo.address, name="echo")
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(tp.proxies()) == {"echo"}
    assert tp.get_proxy("echo").upstream == tp.echo.address
    with pytest.raises(ProxyExists):
        tp.create(upstream=tp.echo.address, name="echo")

    proxy.add_toxic(type="latency", attributes={"latency": 40})
    proxy.add_toxic(type="latency", stream="upstream", name="lat_up", attributes={"latency": 40})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "lat_up"}
    assert toxics["lat_up"].stream == "upstream" and toxics["lat_up"].attributes["latency"] == 40
    assert proxy.get_toxic("nope") is None
    assert roundtrip_ms(proxy.listen) >= 75  # 40 ms each way

    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(ProxyExists):  # the client maps 409 to ProxyExists
        proxy.add_toxic(type="latency", attributes={"latency": 1})

    proxy.destroy_toxic("lat_up")
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    assert roundtrip_ms(proxy.listen) < 40

    with proxy.down():
        assert tp.get_proxy("echo").enabled is False
        host, port = proxy.listen.rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5)
    assert tp.get_proxy("echo").enabled is True
    assert roundtrip_ms(proxy.listen) < 40

    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    assert tp.reset()
    assert proxy.toxics() == {}

    created = tp.populate([{"name": "pop", "upstream": tp.echo.address, "listen": "127.0.0.1:0"}])
    assert [p.name for p in created] == ["pop"]
    assert set(tp.proxies()) == {"echo", "pop"}
    # populate() again with another upstream: the client destroys and re-creates it
    again = tp.populate([{"name": "pop", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}])
    assert [p.name for p in again] == ["pop"] and tp.get_proxy("pop").upstream == "127.0.0.1:9"

    # created disabled: nothing listens until enable()
    off = tp.create(upstream=tp.echo.address, name="off", enabled=False)
    assert off.enabled is False and tp.get_proxy("off").enabled is False
    off.enable()
    assert tp.get_proxy("off").enabled is True
    assert roundtrip_ms(tp.get_proxy("off").listen) < 40
    off.disable()
    assert tp.get_proxy("off").enabled is False

    assert tp.destroy(proxy)
    with pytest.raises(NotFound):
        proxy.destroy()
    tp.destroy_all()
    assert tp.proxies() == {}
