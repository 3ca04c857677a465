#!/usr/bin/env bash
# Sets up godo on a fresh machine, idempotently:
#   - Debian packages the tests need, when missing (busybox-static for container
#     tests, libauparse-dev for the libauparse oracle and benchmark, gcc,
#     postgresql-15 for the fleet tests' replicated store);
#   - .venv at the repository root with godo installed editable, test extras and
#     the compiled hot path built;
#   - FerretDB v1.24.2 (the embedded default store), built once and cached;
#   - mongoimport, where it can be built (optional: one export test uses it).
# Prints `godo --version`, which says whether the hot path is accelerated.
set -euo pipefail
cd "$(dirname "$0")/.."

# The container runtimes the live tests run real containers with: containerd and
# runc, and podman with its conmon where Debian has them. Their services are never
# started: a policy-rc.d that says no is in place while they install (the tests run
# a private containerd; a host's own is never touched). PostgreSQL 15 likewise: its
# package makes the `postgres` user the fleet tests run their private clusters as
# (tests/support/pgcluster.py), from /usr/lib/postgresql/15/bin; the cluster
# Debian's package would make and start is never started.
need=()
for pkg in busybox-static libauparse-dev gcc python3-venv containerd runc podman conmon postgresql-15; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
    echo "setup: installing ${need[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq >&2
    available=()
    for pkg in "${need[@]}"; do
        if apt-cache show "$pkg" >/dev/null 2>&1; then available+=("$pkg")
        else echo "setup: Debian here has no $pkg, going on without it" >&2; fi
    done
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        trap '$SUDO rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${available[@]}" >&2
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >&2
# Editable, so the tests run against this checkout; the build compiles _ext/*.pyx.
# In compat mode: a .pth naming the checkout, not setuptools' import-hook finder,
# which imports pathlib, re and importlib.util into every interpreter the venv
# starts (11 ms of each godo command's CPU; a wheel's users pay none of it).
.venv/bin/pip install -q -e ".[test]" --config-settings editable_mode=compat >&2

ferretdb=$(godo/data/build-ferretdb.sh)
echo "setup: FerretDB at $ferretdb" >&2
if mongoimport=$(scripts/build-mongoimport.sh); then
    echo "setup: mongoimport at $mongoimport" >&2
else
    echo "setup: no mongoimport; the export round trip is tested through bson alone" >&2
fi
.venv/bin/godo --version
