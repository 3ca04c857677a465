#!/usr/bin/env bash
# Builds mongoimport (MongoDB Database Tools 100.18.0) into a cache directory reused
# across runs: the test that `godo export` round-trips through a real mongoimport
# uses it. Optional: nothing else in godo needs it.
#
#   scripts/build-mongoimport.sh [OUTPUT]
#
# OUTPUT defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/godo/mongoimport-100.18.0/mongoimport,
# where the tests look (after $GODO_MONGOIMPORT). Prints the binary's path.
# Idempotent: a binary already there that reports 100.18.0 is kept as it is.
#
# The source comes from the Go module proxy (mongo-tools' tags are `100.x.y`, not
# semver, so the tag's commit is named by its pseudo-version), or, where the proxy
# does not serve it, from a git checkout of mongo-tools named by $GODO_MONGO_TOOLS_SRC.
# Its dependencies come from the module proxy either way.
set -euo pipefail

VERSION=100.18.0
COMMIT=21a342dfee6468ad9350d156d25086da64dd03b1
PSEUDO=v0.0.0-20260812163951-${COMMIT:0:12}
MODULE=github.com/mongodb/mongo-tools
OUTPUT=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/godo/mongoimport-$VERSION/mongoimport}
LDFLAGS="-X main.VersionStr=$VERSION -X main.GitCommit=$COMMIT"

reports_version() {
    local out
    [[ -x $1 ]] && out=$("$1" --version 2>/dev/null) && grep -qx "mongoimport version: $VERSION" <<<"$out"
}

if reports_version "$OUTPUT"; then
    echo "$OUTPUT"
    exit 0
fi
if ! command -v go >/dev/null; then
    echo "build-mongoimport.sh: Go is not installed; mongoimport is built from source with it" >&2
    exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/godo-mongoimport.XXXXXX")
partial="$OUTPUT.tmp.$$"
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch" "$partial"' EXIT

if moddir=$(go mod download -json "$MODULE@$PSEUDO" 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' 2>/dev/null); then
    cp -R "$moddir" "$scratch/src"
    chmod -R u+w "$scratch/src"
elif [[ -n ${GODO_MONGO_TOOLS_SRC:-} ]] && git -C "$GODO_MONGO_TOOLS_SRC" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    mkdir "$scratch/src"
    git -C "$GODO_MONGO_TOOLS_SRC" archive "$COMMIT" | tar -x -C "$scratch/src"
else
    echo "build-mongoimport.sh: the Go module proxy does not serve $MODULE@$PSEUDO here;" \
         "set GODO_MONGO_TOOLS_SRC to a git checkout of mongo-tools holding $VERSION" >&2
    exit 1
fi
(cd "$scratch/src" && go build -ldflags "$LDFLAGS" -o "$scratch/mongoimport" ./mongoimport/main) >&2

if ! reports_version "$scratch/mongoimport"; then
    echo "build-mongoimport.sh: the mongoimport built does not report $VERSION" >&2
    exit 1
fi
mkdir -p "$(dirname "$OUTPUT")"
cp "$scratch/mongoimport" "$partial"
mv -f "$partial" "$OUTPUT"
echo "$OUTPUT"
