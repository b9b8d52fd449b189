#!/usr/bin/env bash
# Installs and starts what chaoskit's full test suite needs on Debian 12:
# Docker engine (docker.io) + docker-compose, debootstrap (offline images),
# etcd-server, libfaketime, prometheus, chromium, python3-aiohttp (the link server
# under Debian's python3, as in the link container), PostgreSQL 15 + Patroni and
# Redis + Sentinel (real replicated databases; libnss-wrapper routes their peer
# names through the links on the local backend), fiu-utils and stress-ng (disk and
# resource faults), gcc + libc6-dev (the disk-fault shim is compiled at first
# use). Idempotent; needs root for apt.
set -euo pipefail

PKGS=(docker.io docker-compose debootstrap etcd-server etcd-client libfaketime prometheus chromium iproute2 procps python3-aiohttp
      postgresql-15 patroni redis-server redis-sentinel libnss-wrapper fiu-utils stress-ng gcc libc6-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "chaoskit: these Debian packages are missing: ${missing[*]}" >&2
    echo "          install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "chaoskit: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Docker engine: start dockerd unless one already answers.
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "chaoskit: no Docker engine answers; start one (sudo dockerd) and re-run" >&2
    exit 1
  fi
  echo "chaoskit: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/chaoskit-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "chaoskit: dockerd did not start; see /var/log/chaoskit-dockerd.log" >&2; tail -20 /var/log/chaoskit-dockerd.log >&2; exit 1; }
fi
echo "chaoskit: system ready (docker $(docker version -f '{{.Server.Version}}'))"
