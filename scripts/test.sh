#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: system packages and the
# Docker engine, the venv, the node image, then pytest. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-system.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
.venv/bin/chaoskit image build
# Two test files at a time: most of the time is drills waiting on real failovers.
# Tests are written to share the machine (run ids, free ports, leftovers counted per
# run); `-n 0` in the extra args runs them one at a time.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
