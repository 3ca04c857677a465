// godo's addition to FerretDB v1.24.2, copied into internal/backends by
// godo/data/build-ferretdb.sh.
//
// FerretDB's SQLite backend answers a query by reading and decoding every
// document of the collection in Go, unless the filter is a lone {_id: X}; sorts and
// limits are applied after that. At a million documents each query takes minutes.
// This build pushes down what godo's queries are made of. The walks over a filter
// and a `$regex` are shared (godo_filter.go, godo_regex.go); each backend says its
// own SQL (internal/backends/{sqlite,postgresql}/godo_pushdown.go; PostgreSQL's
// differences and limits are told there). In SQLite:
//   - on top-level fields: equality with a string, an integer, a boolean or null;
//     `$ne` a boolean or null; the ranges on a string, a number or a date; a
//     `$regex` without options of the shape godo makes of a glob (`^`, literals,
//     `.`, `.*`, bracket sets, `$`) as SQLite's GLOB, which matches a superset (its
//     `?` takes a newline, the regex's `.` does not); an `$or` of such terms. Each
//     is compared by the field's SQL value (`->>`, which godo's indexes are built
//     on; a JSON boolean is 1 or 0 there, a date its milliseconds);
//   - then, when the whole filter was pushed down, a sort on one top-level field
//     and the limit.
// The handler still filters, sorts and limits what comes back, so the pushdown
// only has to return every matching document (and, with a limit, the first ones
// in the sort's order). Where it cannot: a field that holds an array matches a
// value inside it in MongoDB, not here; a boolean compared to a field that holds
// the number 1 or 0 takes them for true and false; and comparisons and sorts over
// a field whose values mix types follow SQLite's order of types, not BSON's. godo
// writes none of these.

package backends

import "github.com/FerretDB/FerretDB/internal/types"

// GodoPushable is set by a backend that takes a pushed-down sort and limit (the
// SQLite and PostgreSQL backends of this build, GodoWhole of their terms): whether
// it pushes the whole filter down.
var GodoPushable func(filter *types.Document) bool

// GodoSortable reports whether a sort is on one top-level field.
func GodoSortable(sort *types.Document) bool {
	if sort.Len() != 1 {
		return false
	}

	return GodoField(sort.Keys()[0])
}

// GodoField reports whether a key names a top-level field the pushdown handles:
// letters, digits and underscores (no path, no operator, nothing to quote).
func GodoField(key string) bool {
	if key == "" {
		return false
	}

	for _, c := range key {
		if !(c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')) {
			return false
		}
	}

	return true
}
