"""Docker backend benchmarks (run by hand: `.venv/bin/python benchmarks/bench_docker.py`).

1. Image build: a cached `ensure_image()` vs a forced rebuild of the node layer
   (targets: seconds when cached; with --cold also the debootstrap base from
   scratch, target under 3 minutes).
2. Time from `up` to a ready 5-member etcd cluster over 3 regions (target under
   30 s), against a baseline measured in the same run: the same topology with 5
   idle containers (backend + links + container start, no etcd).
"""

from __future__ import annotations

import argparse
import time

from chaoskit.backends.base import NodeSpec
from chaoskit.backends.docker import image
from chaoskit.backends.docker.backend import DockerBackend
from chaoskit.cluster import Cluster
from chaoskit.systems.etcd.adapter import EtcdAdapter
from chaoskit.topology.plan import build_topology

TOPO = {
    "us-east": {"location": "us-east", "zones": {"use-1a": 1, "use-1b": 1}},
    "eu-west": {"location": "eu-west", "zones": {"euw-1a": 1, "euw-1b": 1}},
    "ap-northeast": {"location": "ap-northeast", "zones": {"apne-1a": 1}},
}


def bench_cold() -> float:
    """A cold offline build (debootstrap + import + node build) under separate
    repository names, removed afterwards: the benchmark never deletes the cached
    image that a running experiment, a test run or CI is using."""
    client = image.docker_client()
    saved = (image.BASE_REPO, image.NODE_REPO, image.prune_old_node_images)
    image.BASE_REPO, image.NODE_REPO = "chaoskit-bench-base", "chaoskit-bench-node"
    image.prune_old_node_images = lambda keep: 0  # type: ignore[assignment]
    tags: list[str] = []
    try:
        pkgs = image._read_packages()
        tags = [image.node_image_tag(), f"{image.BASE_REPO}:{image.base_hash(pkgs)}"]
        tags.append(f"{image.NODE_REPO}:latest")
        for tag in tags:  # leftovers of an interrupted benchmark
            try:
                client.images.remove(tag, force=True)
            except Exception:
                pass
        t = time.monotonic()
        image.ensure_image(offline=True, log=lambda m: None)
        return time.monotonic() - t
    finally:
        for tag in tags:
            try:
                client.images.remove(tag, force=True)
            except Exception:
                pass
        image.BASE_REPO, image.NODE_REPO, image.prune_old_node_images = saved


def bench_image(cold: bool) -> None:
    if cold:
        cold_s = bench_cold()
        print(
            f"image cold (debootstrap + import + build): {cold_s:6.1f} s  target 180 s  ratio {cold_s / 180:.2f}"
        )
    t = time.monotonic()
    image.ensure_image(force=True, offline=True, log=lambda m: None)
    rebuild = time.monotonic() - t
    t = time.monotonic()
    res = image.ensure_image(log=lambda m: None)
    cached = time.monotonic() - t
    assert not res.built
    print(f"image forced build (layer cache warm):    {rebuild:6.2f} s")
    print(
        f"image cached:                             {cached:6.2f} s  ratio cached/forced {cached / rebuild:.3f}"
    )


def bench_etcd(rounds: int) -> None:
    topo = build_topology(TOPO)
    base_s, etcd_s = [], []
    for _ in range(rounds):
        b = DockerBackend()
        t = time.monotonic()
        try:
            plan = b.plan(topo, ("client", "peer"))
            b.up(topo, plan)
            for n in topo.nodes:
                b.start_node(n.name, NodeSpec(argv=["sleep", "600"]))
            base_s.append(time.monotonic() - t)
        finally:
            b.down()
        t = time.monotonic()
        with Cluster(topo, EtcdAdapter(), DockerBackend(), ready_timeout_s=60):
            etcd_s.append(time.monotonic() - t)
    base, etcd = min(base_s), min(etcd_s)
    print(f"baseline: up + 5 idle containers:          {base:6.2f} s")
    print(
        f"up -> 5-member etcd ready (3 regions):     {etcd:6.2f} s  target 30 s  ratio {etcd / 30:.2f}  vs baseline x{etcd / base:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cold", action="store_true", help="also rebuild the debootstrap base")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    bench_image(args.cold)
    bench_etcd(args.rounds)


if __name__ == "__main__":
    main()
