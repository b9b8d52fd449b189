"""Closed doors (chaoskit.access): the link API binds loopback unless told otherwise,
beyond loopback every request needs the token its CLI prints, request bodies are
bounded, and neither the link API nor the experiment loader is taken down by
garbage (hypothesis): a 4xx, or a `file:line: field: message` error."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit.access import TOKEN_HEADER, is_loopback
from chaoskit.links.api import MAX_BODY_BYTES
from chaoskit.links.server import AsyncLinkServer, LinkServer


def _start(argv: list[str], port_file: Path) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 20
    while not port_file.exists() or not port_file.read_text().strip():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < end, "the link server never wrote its port"
        time.sleep(0.05)
    return p, int(port_file.read_text())


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "chaoskit.links"],
        [str(Path(sys.executable).parent / "chaoskit"), "links", "serve"],
    ],
    ids=["module", "cli"],
)
def test_beyond_loopback_a_request_without_the_printed_token_is_refused(argv, tmp_path):
    port_file = tmp_path / "port"
    p, port = _start(
        [*argv, "--host", "0.0.0.0", "--port", "0", "--port-file", str(port_file)], port_file
    )
    try:
        url = f"http://127.0.0.1:{port}"
        r = requests.get(f"{url}/version", timeout=5)
        assert r.status_code == 401 and TOKEN_HEADER in r.json()["error"]
        assert requests.post(f"{url}/reset", timeout=5).status_code == 401
        assert (
            requests.get(f"{url}/version", headers={TOKEN_HEADER: "guess"}, timeout=5).status_code
            == 401
        )
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
    (token,) = re.findall(rf"{TOKEN_HEADER}: (\S+)", err)
    # the same server again, with the token it would print given up front
    port_file.unlink()
    p, port = _start(
        [
            *argv,
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--token",
            token,
        ],
        port_file,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/version", headers={TOKEN_HEADER: token}, timeout=5).ok
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{url}/proxies", headers=bearer, timeout=5).json() == {}
        assert requests.get(f"{url}/proxies", timeout=5).status_code == 401
    finally:
        p.terminate()
        p.communicate(timeout=10)


def test_loopback_needs_no_token_and_elsewhere_cannot_start_without_one():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("10.1.2.3")
    with pytest.raises(ValueError, match="needs a token"):
        AsyncLinkServer("0.0.0.0", 0)
    with LinkServer() as s:  # 127.0.0.1, no token: open to local clients only
        assert requests.get(f"{s.url}/version", timeout=5).ok


def test_a_body_over_the_bound_is_refused_and_the_server_lives_on():
    with LinkServer() as s:
        big = b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]"
        r = requests.post(f"{s.url}/populate", data=big, timeout=30)
        assert r.status_code == 413
        assert requests.get(f"{s.url}/version", timeout=5).ok


ROUTES = [
    ("GET", "/proxies"),
    ("POST", "/proxies"),
    ("POST", "/populate"),
    ("POST", "/reset"),
    ("POST", "/chaoskit/batch"),
    ("GET", "/proxies/p"),
    ("POST", "/proxies/p"),
    ("PATCH", "/proxies/p"),
    ("DELETE", "/proxies/p"),
    ("POST", "/proxies/p/toxics"),
    ("PATCH", "/proxies/p/toxics/t"),
    ("GET", "/nowhere"),
]

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids, max_size=5)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def link_server():
    with LinkServer() as s:
        yield s


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(ROUTES),
    body=st.one_of(st.binary(max_size=200), JSONISH.map(lambda v: json.dumps(v).encode())),
)
def test_link_api_answers_garbage_with_4xx_and_stays_up(link_server, route, body):
    method, path = route
    r = requests.request(method, link_server.url + path, data=body, timeout=5)
    assert 200 <= r.status_code < 500, (method, path, body, r.status_code, r.text)
    assert r.status_code < 300 or "error" in r.json()
    assert requests.get(f"{link_server.url}/version", timeout=5).ok
    # whatever garbage created is gone again, so examples do not depend on each other
    requests.post(f"{link_server.url}/reset", timeout=5)
    for name in requests.get(f"{link_server.url}/proxies", timeout=5).json():
        requests.delete(f"{link_server.url}/proxies/{name}", timeout=5)


YAML_BITS = st.sampled_from(
    [
        "name: x\n",
        "backend: local\n",
        "topology:\n  regions:\n",
        "    a: {location: beijing, zones: {z: 1}}\n",
        "system: {kind: geokv}\n",
        "load: {duration: 5s}\n",
        "schedule:\n  - {at: 1s, fault: cut-region, region: a}\n",
        "checks: {linearizable: true}\n",
        "  - [\n",
        "&a [*a]\n",
        "? {a: 1}\n",
        ": :\n",
        "\t\n",
        "!!python/object:os.system x\n",
        "load: {duration: -1s, rate: lots}\n",
    ]
)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=200), st.lists(YAML_BITS, max_size=8).map("".join)))
def test_experiment_loader_survives_garbage_with_line_numbered_errors(text):
    from chaoskit.experiment import load_experiment_text
    from chaoskit.experiment.spec import ExperimentError

    try:
        load_experiment_text(text, name="garbage.yaml")
    except ExperimentError as e:
        assert e.errors
        for err in e.errors:
            assert str(err).startswith("garbage.yaml"), str(err)
            assert err.line is None or err.line >= 1


def test_garbage_through_the_cli_is_exit_2_with_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\ntopology: {regions: {a: {location: nowhere-land, zones: {z: 1}}}}\n")
    r = subprocess.run(
        [str(Path(sys.executable).parent / "chaoskit"), "validate", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert re.search(rf"{re.escape(str(f))}:\d+: ", r.stdout + r.stderr), r.stdout + r.stderr


def test_event_loop_server_object_refuses_before_binding():
    async def main() -> None:
        with pytest.raises(ValueError):
            AsyncLinkServer("", 0)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        # found by the property test above: each crashed the loader
        ("&0 [*0]", 1, "an alias that contains itself"),
        ("name: x\n\x1f\n", 2, "character 0x1f is not allowed"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            ),
            None,
            "more than 100000 values",
        ),
    ],
    ids=["recursive-alias", "control-character", "billion-laughs"],
)
def test_hostile_yaml_is_a_line_numbered_error(text, line, message):
    from chaoskit.experiment import load_experiment_text
    from chaoskit.experiment.spec import ExperimentError

    t = time.monotonic()
    with pytest.raises(ExperimentError) as e:
        load_experiment_text(text, name="hostile.yaml")
    assert time.monotonic() - t < 20
    (err,) = [x for x in e.value.errors if message in x.message]
    assert line is None or err.line == line, str(err)
    assert str(err).startswith("hostile.yaml:")
