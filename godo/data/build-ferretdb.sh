#!/usr/bin/env bash
# Builds FerretDB v1.24.2, the embedded MongoDB-compatible server godo uses when no
# MongoDB URI is given, into a cache directory reused across runs.
#
#   godo/data/build-ferretdb.sh [OUTPUT]   (what scripts/setup.sh, `godo store setup`
#                                           and setup.py's wheel build run)
#
# OUTPUT defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/godo/ferretdb-$BUILD/ferretdb,
# where godo.store.ferret looks after the binary a wheel carries. Prints the
# binary's path. Idempotent: a binary already there that reports v1.24.2 is kept.
#
# Two bugs of v1.24.2's SQLite backend are patched, godo's queries are pushed down
# into SQLite and PostgreSQL (see apply_patch below), and SQLite's memcmp/memcpy/
# memmove are Go's own (5. below). BUILD names that build: the version and a digest
# of this script and the Go files it adds (godo.store.ferret computes the same), so a
# binary built from other patches or flags is never reused.
#
# The binary is static (CGO_ENABLED=0: FerretDB's SQLite is pure Go) and stripped,
# so the one a wheel carries runs on any Linux of its architecture.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mapfile -t patches < <(printf '%s\n' "$here"/ferretdb/*.go | LC_ALL=C sort)
digest=$(cat "$here/build-ferretdb.sh" "${patches[@]}" | sha256sum | cut -c1-12)
BUILD=$VERSION-godo-$digest
OUTPUT=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/godo/ferretdb-$BUILD/ferretdb}
export CGO_ENABLED=0

reports_version() {
    local out
    # Read all of it first: `grep -q` closing the pipe early would fail the binary
    # with SIGPIPE, and pipefail with it.
    [[ -x $1 ]] && out=$("$1" --version 2>/dev/null) && grep -qx "version: $VERSION" <<<"$out"
}

if reports_version "$OUTPUT"; then
    echo "$OUTPUT"
    exit 0
fi

if ! command -v go >/dev/null; then
    echo "build-ferretdb.sh: Go is not installed; FerretDB $VERSION is built from source with it" >&2
    exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/godo-ferretdb.XXXXXX")
partial="$OUTPUT.tmp.$$"
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch" "$partial"' EXIT

# This fetches the module and everything it imports into Go's module cache and
# compiles them into the build cache, so the build below is quick. Its binary is of
# no use: the module zip lacks build/version/version.txt (FerretDB's release tooling
# generates it), and without it the binary panics at start.
GOBIN="$scratch/gobin" go install "$MODULE/cmd/ferretdb@$VERSION" >&2

moddir=$(go mod download -json "$MODULE@$VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')

# The module cache is read-only, so the source is built from a writable copy with
# the version file filled in.
cp -R "$moddir" "$scratch/src"
chmod -R u+w "$scratch/src"
echo "$VERSION" > "$scratch/src/build/version/version.txt"

# Replaces exact whole lines of FerretDB's source (one, or a run of them), and fails
# the build when they are not there: a patch must never silently not apply.
holds() {
    OLD=$2 perl -0777 -ne 'exit(/^\Q$ENV{OLD}\E$/m ? 0 : 1)' "$scratch/src/$1"
}
apply_patch() {
    local file=$scratch/src/$1 old=$2 new=$3
    holds "$1" "$old" || { echo "build-ferretdb.sh: $1 does not hold: $old" >&2; exit 1; }
    OLD=$old NEW=$new perl -0pi -e 's/^\Q$ENV{OLD}\E$/$ENV{NEW}/m' "$file"
    holds "$1" "$new"
}

# 1. Updates and deletes by _id scan the whole collection: the index is built on
#    `->'_id'` but queries use `->'$._id'`, which SQLite's planner does not match to
#    it, so each replace costs a scan (2 documents/s at 20k documents, measured).
apply_patch internal/backends/sqlite/metadata/metadata.go \
    $'\tIDColumn = DefaultColumn + "->\'$._id\'"' \
    $'\tIDColumn = DefaultColumn + "->\'_id\'"'
# 2. An update command matching more than 100 documents never answers: each
#    statement's iterator is closed only when the whole command ends (a defer in the
#    loop), holding one of the 100 pooled SQLite connections. Close it per statement.
apply_patch internal/handler/msg_update.go $'\t\tdefer closer.Close()' ''
apply_patch internal/handler/msg_update.go \
    $'\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)' \
    $'\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n\t\tcloser.Close()'
# 3. Every other query reads and decodes the whole collection in Go (7-10k documents
#    a second: minutes for a million files), whatever the indexes. Top-level
#    equalities, ranges and $or of them are pushed down into SQLite, and with them a
#    one-field sort and the limit; indexes on top-level fields are built on the SQL
#    value they compare.
#    The why and the limits: ferretdb/backends_godo_pushdown.go beside this script;
#    the walks over a filter and a $regex that both backends share are
#    ferretdb/backends_godo_{filter,regex}.go.
cp "$here/ferretdb/backends_godo_pushdown.go" "$scratch/src/internal/backends/godo_pushdown.go"
cp "$here/ferretdb/backends_godo_filter.go" "$scratch/src/internal/backends/godo_filter.go"
cp "$here/ferretdb/backends_godo_regex.go" "$scratch/src/internal/backends/godo_regex.go"
cp "$here/ferretdb/sqlite_godo_pushdown.go" "$scratch/src/internal/backends/sqlite/godo_pushdown.go"
apply_patch internal/backends/collection.go \
    $'\t\tsortValue := params.Sort.Map()["$natural"].(int64)' \
    $'\t\tsortValue := params.Sort.Map()[params.Sort.Keys()[0]].(int64) // godo: one field, or $natural'
apply_patch internal/backends/sqlite/backend.go \
    $'\treturn backends.BackendContract(&backend{' \
    $'\tbackends.GodoPushable = backends.GodoWhole(godoTerm)\n\n\treturn backends.BackendContract(&backend{'
apply_patch internal/backends/sqlite/collection.go \
    $'\t// that logic should exist in one place\n\t// TODO https://github.com/FerretDB/FerretDB/issues/3235\n\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")\n\t\tswitch v.(type) {\n\t\tcase string, types.ObjectID:\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n\t}' \
    $'\t// godo: every term of the filter SQLite can compare, a lone _id among them.\n\twhereClause, args = prepareGodoWhere(params.Filter)'
apply_patch internal/backends/sqlite/query.go \
    $'\tv := must.NotFail(sort.Get("$natural"))' \
    $'\tif key := sort.Keys()[0]; key != "$natural" {\n\t\treturn godoOrderBy(key, must.NotFail(sort.Get(key)).(int64))\n\t}\n\n\tv := must.NotFail(sort.Get("$natural"))'
apply_patch internal/backends/sqlite/metadata/registry.go \
    $'\t\t\tcolumns[i] = fmt.Sprintf("%s->%s", DefaultColumn, strings.Join(fields, "->"))' \
    $'\t\t\tcolumns[i] = fmt.Sprintf("%s->%s", DefaultColumn, strings.Join(fields, "->"))\n\t\t\tif len(fields) == 1 && key.Field != "_id" {\n\t\t\t\tcolumns[i] = fmt.Sprintf("%s->>%s", DefaultColumn, fields[0])\n\t\t\t}'
apply_patch internal/handler/msg_find.go \
    $'\th.L.DebugContext(ctx, fmt.Sprintf("Converted %+v for %+v to %+v.", params, cInfo, qp))' \
    $'\tif backends.GodoPushable != nil && !h.DisablePushdown && params.Skip == 0 && backends.GodoPushable(params.Filter) {\n\t\tif backends.GodoSortable(params.Sort) {\n\t\t\tqp.Sort = params.Sort\n\t\t}\n\n\t\tif params.Sort.Len() == 0 || qp.Sort == params.Sort {\n\t\t\tqp.Limit = params.Limit\n\t\t}\n\t}\n\n\th.L.DebugContext(ctx, fmt.Sprintf("Converted %+v for %+v to %+v.", params, cInfo, qp))'
# 4. The PostgreSQL backend's twin of 3: godo's queries (and updates and deletes by
#    _id, which it looked up with no index) pushed down as comparisons of the jsonb
#    expressions its indexes are built on, those indexes holding missing first as
#    MongoDB sorts; and creates that change the catalog are made one front-end at a
#    time, each on the catalog read again (many front-ends, one database).
#    The why and the limits: ferretdb/postgresql_godo_*.go beside this script.
cp "$here/ferretdb/postgresql_godo_pushdown.go" "$scratch/src/internal/backends/postgresql/godo_pushdown.go"
cp "$here/ferretdb/postgresql_godo_catalog.go" "$scratch/src/internal/backends/postgresql/metadata/godo_catalog.go"
apply_patch internal/backends/postgresql/backend.go \
    $'\treturn backends.BackendContract(&backend{' \
    $'\tbackends.GodoPushable = backends.GodoWhole(godoTerm)\n\n\treturn backends.BackendContract(&backend{'
apply_patch internal/backends/postgresql/collection.go \
    $'\twhere, args, err = prepareWhereClause(&placeholder, params.Filter)' \
    $'\tlead := godoLead(params.Filter, params.Sort, meta.Indexes)\n\twhere, args, err = prepareGodoWhere(&placeholder, params.Filter, lead)'
apply_patch internal/backends/postgresql/collection.go \
    $'\tsort, sortArgs := prepareOrderByClause(params.Sort)\n\n\tq += sort\n\targs = append(args, sortArgs...)\n\n\tif params.Limit != 0 {\n\t\tq += fmt.Sprintf(` LIMIT %s`, placeholder.Next())\n\t\targs = append(args, params.Limit)\n\t}\n\n\trows, err := p.Query(ctx, q, args...)' \
    $'\tsort, sortArgs := godoSortLead(params.Sort, lead)\n\n\tq += sort\n\targs = append(args, sortArgs...)\n\n\tif params.Limit != 0 {\n\t\tq += fmt.Sprintf(` LIMIT %s`, placeholder.Next())\n\t\targs = append(args, params.Limit)\n\t}\n\n\trows, err := p.Query(ctx, q, args...)'
apply_patch internal/backends/postgresql/collection.go \
    $'\twhere, args, err := prepareWhereClause(&placeholder, params.Filter)' \
    $'\twhere, args, err := prepareGodoWhere(&placeholder, params.Filter, "")'
apply_patch internal/backends/postgresql/query.go \
    $'\tv := must.NotFail(sort.Get("$natural"))' \
    $'\tif key := sort.Keys()[0]; key != "$natural" {\n\t\treturn godoOrderBy(key, must.NotFail(sort.Get(key)).(int64)), nil\n\t}\n\n\tv := must.NotFail(sort.Get("$natural"))'
apply_patch internal/backends/postgresql/metadata/registry.go \
    $'\t\t\tif key.Descending {\n\t\t\t\tcolumns[i] += " DESC"\n\t\t\t}' \
    $'\t\t\tcolumns[i] += godoNullsOrder(key)'
apply_patch internal/backends/postgresql/metadata/registry.go \
    $'\treturn r.databaseGetOrCreate(ctx, p, dbName)' \
    $'\tknown := r.colls[dbName] != nil\n\tif err = r.godoCreate(ctx, p, known, func() error { _, err := r.databaseGetOrCreate(ctx, p, dbName); return err }); err != nil {\n\t\treturn nil, err\n\t}\n\n\treturn p, nil'
apply_patch internal/backends/postgresql/metadata/registry.go \
    $'\treturn r.collectionCreate(ctx, p, params)' \
    $'\tvar created bool\n\tknown := r.colls[params.DBName][params.Name] != nil\n\terr = r.godoCreate(ctx, p, known, func() (err error) { created, err = r.collectionCreate(ctx, p, params); return err })\n\n\treturn created, err'
apply_patch internal/backends/postgresql/metadata/registry.go \
    $'\treturn r.indexesCreate(ctx, p, dbName, collectionName, indexes)' \
    $'\treturn r.godoCreate(ctx, p, false, func() error { return r.indexesCreate(ctx, p, dbName, collectionName, indexes) })'
# A read naming a database or collection this front-end's catalog lacks reads the
# catalog again first: another front-end may have made it since (godo_catalog.go).
# refresh_on_miss HEAD CHECK WHAT: the method opening with HEAD, then CHECK (its
# getPool), asks godoRefresh about WHAT before it reads the catalog's copy.
refresh_on_miss() {
    apply_patch internal/backends/postgresql/metadata/registry.go "$1"$'\n'"$2" \
        "$1"$'\n'"$named_pool"$'\n\n\tif err = r.godoRefresh(ctx, p, '"$3"$'); err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}'
}
named_pool=$'\tp, err := r.getPool(ctx)\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}'
unnamed_pool=$'\tif _, err := r.getPool(ctx); err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}'
refresh_on_miss 'func (r *Registry) DatabaseGetExisting(ctx context.Context, dbName string) (*pgxpool.Pool, error) {' \
    "$named_pool" 'dbName, ""'
refresh_on_miss 'func (r *Registry) CollectionGet(ctx context.Context, dbName, collectionName string) (*Collection, error) {' \
    "$unnamed_pool" 'dbName, collectionName'
refresh_on_miss 'func (r *Registry) CollectionList(ctx context.Context, dbName string) ([]*Collection, error) {' \
    "$unnamed_pool" 'dbName, ""'
# 5. SQLite's memcmp, memcpy and memmove are musl's C loops transpiled to Go, a
#    byte at a time (modernc.org/libc on linux amd64, arm64 and loong64). An insert
#    spends ~15% of FerretDB's CPU in memcmp alone: SQLite's JSON cache compares each
#    document's text with the parsed ones (once per index expression), and the
#    B-trees compare keys. They are replaced by Go's own (vectorised) copy and
#    compare, in a copy of the module FerretDB builds against. Same results.
arch=$(go env GOARCH)
libcdir=$(cd "$scratch/src" && go list -m -json modernc.org/libc |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
cp -R "$libcdir" "$scratch/libc"
chmod -R u+w "$scratch/libc"
musl=$scratch/libc/ccgo_linux_$arch.go
if [[ -f $musl ]]; then
    for f in memcmp memcpy memmove; do
        perl -0777 -ne "exit(/^func X$f\(tls \*TLS, /m ? 0 : 1)" "$musl" ||
            { echo "build-ferretdb.sh: no X$f in $musl" >&2; exit 1; }
        perl -pi -e "s/^func X$f\(tls \*TLS, /func x${f}Musl(tls *TLS, /" "$musl"
    done
    cp "$here/ferretdb/sqlite_godo_libc.go" "$scratch/libc/godo_mem.go"
    (cd "$scratch/src" && go mod edit -replace "modernc.org/libc=$scratch/libc")
fi
(cd "$scratch/src" && gofmt -l internal/backends internal/handler/msg_find.go) >&2
(cd "$scratch/src" && go build -trimpath -ldflags="-s -w" -o "$scratch/ferretdb" ./cmd/ferretdb) >&2

if ! reports_version "$scratch/ferretdb"; then
    echo "build-ferretdb.sh: the FerretDB binary built does not report $VERSION" >&2
    exit 1
fi

# A rename within one directory is atomic, so a concurrent run or a godo start never
# sees a half-written binary.
mkdir -p "$(dirname "$OUTPUT")"
cp "$scratch/ferretdb" "$partial"
mv -f "$partial" "$OUTPUT"
echo "$OUTPUT"
