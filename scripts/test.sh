#!/usr/bin/env bash
# The test command: set up (idempotent), then every test tier. Live tests (root +
# the kernel's audit subsystem) and store tests (real FerretDB) are required here:
# if they cannot run, they fail instead of skipping. They run one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export GODO_REQUIRE_LIVE=1 GODO_REQUIRE_STORE=1
exec .venv/bin/python -m pytest "$@"
