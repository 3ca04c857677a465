// godo's addition to FerretDB v1.24.2, copied into internal/backends by
// godo/data/build-ferretdb.sh: the walk over a filter that every backend's
// pushdown shares (godo_pushdown.go says what is pushed down), each backend
// saying how it compares one field.

package backends

import (
	"strings"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// GodoTerm is a backend's SQL for one top-level field's term of a filter (the
// field's value: a scalar or an operator document), with `?` for each argument;
// false when it cannot say it.
type GodoTerm func(key string, v any) (condition string, args []any, ok bool)

// GodoRanges are the comparison operators pushed down, as SQL.
var GodoRanges = map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// GodoWhole is a backend's GodoPushable: whether GodoWhere says every term of a
// filter with the backend's term.
func GodoWhole(term GodoTerm) func(filter *types.Document) bool {
	return func(filter *types.Document) bool {
		_, _, whole := GodoWhere(filter, term)
		return whole
	}
}

// GodoWhere returns the SQL conditions (all to hold) of the filter's terms the
// backend can say (top-level fields by term, and `$or`s whose every branch it can
// say whole), their arguments, and whether those are all of its terms.
func GodoWhere(filter *types.Document, term GodoTerm) (conditions []string, args []any, whole bool) {
	whole = true
	if filter == nil {
		return nil, nil, whole
	}

	for _, key := range filter.Keys() {
		v, _ := filter.Get(key)

		var condition string
		var values []any
		ok := false

		switch {
		case key == "$or":
			condition, values, ok = godoOr(v, term)
		case GodoField(key):
			condition, values, ok = term(key, v)
		}

		if !ok {
			whole = false
			continue
		}

		conditions = append(conditions, condition)
		args = append(args, values...)
	}

	return conditions, args, whole
}

// godoOr is an $or whose every branch is said whole, as SQL.
func godoOr(v any, term GodoTerm) (string, []any, bool) {
	branches, ok := v.(*types.Array)
	if !ok || branches.Len() == 0 {
		return "", nil, false
	}

	var alternatives []string
	var args []any

	for i := 0; i < branches.Len(); i++ {
		branch, ok := must.NotFail(branches.Get(i)).(*types.Document)
		if !ok || branch.Len() == 0 {
			return "", nil, false
		}

		conditions, values, whole := GodoWhere(branch, term)
		if !whole {
			return "", nil, false
		}

		alternatives = append(alternatives, "("+strings.Join(conditions, " AND ")+")")
		args = append(args, values...)
	}

	return "(" + strings.Join(alternatives, " OR ") + ")", args, true
}
