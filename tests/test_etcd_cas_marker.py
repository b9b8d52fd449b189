"""The etcd client marks a cas whose compare did not match with the stable
`cas-mismatch` error (so the report counts it as served), against a real etcd."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests
from helpers import free_port

from chaoskit.systems.base import CAS_MISMATCH, is_cas_mismatch
from chaoskit.systems.etcd.client import EtcdClient
from chaoskit.topology.model import Endpoint


def _start_etcd(data: Path) -> tuple[subprocess.Popen, int]:
    """One member on loopback. Ports come from the OS; another test could grab one
    between our probe and etcd's bind, so a start that dies early is retried."""
    for _ in range(3):
        client, peer = free_port(), free_port()
        proc = subprocess.Popen(
            [
                "etcd",
                "--name=solo",
                f"--data-dir={data / str(client)}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=solo=http://127.0.0.1:{peer}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + 30
        while time.monotonic() < end and proc.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{client}/health", timeout=1).ok:
                    return proc, client
            except requests.RequestException:
                pass
            time.sleep(0.1)
        _stop(proc)
    pytest.fail("etcd did not start on loopback (3 attempts)")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_cas_mismatch_is_marked(need_etcd, tmp_path: Path) -> None:
    proc, port = _start_etcd(tmp_path)
    cl = EtcdClient([Endpoint("127.0.0.1", port)], 5.0)
    try:
        assert cl.invoke("write", "k", 1).type == "ok"
        assert cl.invoke("cas", "k", [1, 2]).type == "ok"
        miss = cl.invoke("cas", "k", [1, 3])  # current value is 2
        assert miss.type == "fail" and miss.error == f"{CAS_MISMATCH}: compare failed"
        assert is_cas_mismatch(miss.error)
        create = cl.invoke("cas", "k", [None, 9])  # "create if absent" on an existing key
        assert create.type == "fail" and is_cas_mismatch(create.error)
        assert cl.invoke("read", "k", None).value == 2  # neither refused cas took effect
    finally:
        cl.close()
        _stop(proc)
    # A stopped server: failures that are not a compare mismatch carry no marker.
    down = EtcdClient([Endpoint("127.0.0.1", port)], 1.0).invoke("cas", "k", [2, 3])
    assert down.type == "fail" and not is_cas_mismatch(down.error)
