// godo's addition to FerretDB v1.24.2, copied into internal/backends by
// godo/data/build-ferretdb.sh.
//
// FerretDB's SQLite backend answers a query by reading and decoding every
// document of the collection in Go, unless the filter is a lone {_id: X}; sorts and
// limits are applied after that. At a million documents each query takes minutes.
// This build pushes down what godo's queries are made of:
//   - on top-level fields: equality with a string, an integer or a boolean, `$ne`
//     a boolean or null, and the ranges on a number or a date, compared by the
//     field's SQL value (`->>`, which godo's indexes are built on; a JSON boolean
//     is 1 or 0 there, a date its milliseconds);
//   - then, when the whole filter was pushed down, a sort on one top-level field
//     and the limit.
// The handler still filters, sorts and limits what comes back, so the pushdown
// only has to return every matching document (and, with a limit, the first ones
// in the sort's order). Where it cannot: a field that holds an array matches a
// value inside it in MongoDB, not here; a boolean compared to a field that holds
// the number 1 or 0 takes them for true and false; and a sort over a field whose
// values mix types orders them by SQLite's rules. godo writes none of these.

package backends

import (
	"time"

	"github.com/FerretDB/FerretDB/internal/types"
)

// GodoSortPushdown is set by a backend that takes a pushed-down sort and limit
// on top-level fields (the SQLite backend of this build).
var GodoSortPushdown bool

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

// GodoPushable reports whether the whole filter is pushed down: every key an
// equality the backend compares in SQL.
func GodoPushable(filter *types.Document) bool {
	if filter == nil {
		return true
	}

	for _, key := range filter.Keys() {
		v, _ := filter.Get(key)

		if key == "_id" {
			switch v.(type) {
			case string, types.ObjectID:
				continue
			}

			return false
		}

		if !GodoField(key) {
			return false
		}

		if _, _, ok := GodoConditions(v); !ok {
			return false
		}
	}

	return true
}

// godoRanges are the comparison operators pushed down, as SQL.
var godoRanges = map[string]string{"$gt": "> ?", "$gte": ">= ?", "$lt": "< ?", "$lte": "<= ?"}

// GodoConditions returns the SQL comparisons of a field with a filter's value and
// their arguments: "= ?" for a string, an integer or a boolean; for an operator
// document, "IS NOT ?" for `$ne` a boolean, "IS NOT NULL" for `$ne: null`, and the
// ranges on a number or a date (a date is its milliseconds in SQL, as sjson stores
// it). ok is false when any part of the value is something else.
func GodoConditions(v any) (conditions []string, args []any, ok bool) {
	switch v := v.(type) {
	case string, int32, int64, bool:
		return []string{"= ?"}, []any{godoArgument(v)}, true
	case *types.Document:
		if v.Len() == 0 {
			return nil, nil, false
		}

		for _, op := range v.Keys() {
			arg, _ := v.Get(op)

			switch {
			case op == "$ne":
				switch arg.(type) {
				case bool:
					conditions = append(conditions, "IS NOT ?")
					args = append(args, godoArgument(arg))
				case types.NullType:
					conditions = append(conditions, "IS NOT NULL")
				default:
					return nil, nil, false
				}
			case godoRanges[op] != "":
				switch arg.(type) {
				case int32, int64, float64, time.Time:
					conditions = append(conditions, godoRanges[op])
					args = append(args, godoArgument(arg))
				default:
					return nil, nil, false
				}
			default:
				return nil, nil, false
			}
		}

		return conditions, args, true
	}

	return nil, nil, false
}

// godoArgument is a filter's value as the SQL value `->>` gives the field.
func godoArgument(v any) any {
	switch v := v.(type) {
	case int32:
		return int64(v)
	case bool:
		if v {
			return int64(1)
		}

		return int64(0)
	case time.Time:
		return v.UnixMilli()
	}

	return v
}

// GodoSortable reports whether a sort is on one top-level field.
func GodoSortable(sort *types.Document) bool {
	return sort.Len() == 1 && GodoField(sort.Keys()[0])
}
