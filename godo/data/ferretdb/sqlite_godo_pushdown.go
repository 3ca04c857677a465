// godo's addition to FerretDB v1.24.2, copied into internal/backends/sqlite by
// godo/data/build-ferretdb.sh: the SQL of the pushdown described in
// internal/backends/godo_pushdown.go.

package sqlite

import (
	"fmt"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// godoPushable reports whether the whole filter is pushed down; NewBackend hands
// it to the handler (backends.GodoPushable).
func godoPushable(filter *types.Document) bool {
	_, _, whole := godoWhere(filter)
	return whole
}

// godoRanges are the comparison operators pushed down, as SQL.
var godoRanges = map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// godoColumn is a top-level field's SQL value, spelled as this build's indexes
// spell it (metadata/registry.go), so that SQLite's planner uses them.
func godoColumn(key string) string {
	return fmt.Sprintf("%s->>%q", metadata.DefaultColumn, key)
}

// prepareGodoWhere returns the WHERE clause of what the filter holds that the
// backend compares in SQL; the rest is left to the handler.
func prepareGodoWhere(filter *types.Document) (string, []any) {
	conditions, args, _ := godoWhere(filter)
	if len(conditions) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conditions, " AND "), args
}

// godoWhere returns the SQL conditions (all to hold) of the filter's terms the
// pushdown handles, their arguments, and whether those are all of its terms.
func godoWhere(filter *types.Document) (conditions []string, args []any, whole bool) {
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
		case key == "_id":
			switch v.(type) {
			case string, types.ObjectID:
				condition, ok = metadata.IDColumn+" = ?", true
				values = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
			}
		case key == "$or":
			condition, values, ok = godoOr(v)
		case backends.GodoField(key):
			condition, values, ok = godoField(godoColumn(key), v)
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

// godoOr is an $or whose every branch is pushed down whole, as SQL.
func godoOr(v any) (string, []any, bool) {
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

		conditions, values, whole := godoWhere(branch)
		if !whole {
			return "", nil, false
		}

		alternatives = append(alternatives, "("+strings.Join(conditions, " AND ")+")")
		args = append(args, values...)
	}

	return "(" + strings.Join(alternatives, " OR ") + ")", args, true
}

// godoField compares one field's SQL value with a filter's value: equality with a
// scalar, or an operator document of `$ne` and ranges.
func godoField(column string, v any) (string, []any, bool) {
	switch v := v.(type) {
	case string, int32, int64, bool:
		return column + " = ?", []any{godoValue(v)}, true
	case types.NullType:
		return column + " IS NULL", nil, true
	case *types.Document:
		if v.Len() == 0 {
			return "", nil, false
		}

		var conditions []string
		var args []any

		for _, op := range v.Keys() {
			arg, _ := v.Get(op)

			switch {
			case op == "$ne":
				switch arg.(type) {
				case bool:
					conditions = append(conditions, column+" IS NOT ?")
					args = append(args, godoValue(arg))
				case types.NullType:
					conditions = append(conditions, column+" IS NOT NULL")
				default:
					return "", nil, false
				}
			case op == "$regex":
				// Only a pattern without options: `$options` is a key of its own.
				pattern, ok := arg.(string)
				if !ok || v.Has("$options") {
					return "", nil, false
				}

				glob, ok := godoGlob(pattern)
				if !ok {
					return "", nil, false
				}

				conditions = append(conditions, column+" GLOB ?")
				args = append(args, glob)
			case godoRanges[op] != "":
				switch arg.(type) {
				case string, int32, int64, float64, time.Time:
					conditions = append(conditions, column+" "+godoRanges[op]+" ?")
					args = append(args, godoValue(arg))
				default:
					return "", nil, false
				}
			default:
				return "", nil, false
			}
		}

		return strings.Join(conditions, " AND "), args, true
	}

	return "", nil, false
}

// godoValue is a filter's value as the SQL value `->>` gives a field holding it.
func godoValue(v any) any {
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

// godoOrderBy returns the ORDER BY clause of a sort on one top-level field.
func godoOrderBy(key string, order int64) string {
	clause := " ORDER BY " + godoColumn(key)
	if order == -1 {
		clause += " DESC"
	}

	return clause
}

// godoGlob turns an anchored regular expression made of literals, `.`, `.*` and
// bracket sets (the shape godo gives a glob: `^...$`) into SQLite's GLOB pattern,
// which matches every string the expression matches (`?` matches a newline, `.`
// does not: the handler filters again). False for any other expression.
func godoGlob(pattern string) (string, bool) {
	if !strings.HasPrefix(pattern, "^") {
		return "", false
	}

	rs := []rune(pattern[1:])
	var out strings.Builder

	for i := 0; i < len(rs); i++ {
		c := rs[i]

		switch c {
		case '$':
			if i != len(rs)-1 {
				return "", false
			}

			return out.String(), true
		case '.':
			if i+1 < len(rs) && rs[i+1] == '*' {
				out.WriteRune('*')
				i++
			} else {
				out.WriteRune('?')
			}
		case '\\':
			if i+1 >= len(rs) {
				return "", false
			}

			i++
			godoGlobLiteral(&out, rs[i])
		case '[':
			end, set, ok := godoGlobSet(rs, i)
			if !ok {
				return "", false
			}

			out.WriteString(set)
			i = end
		case '*', '+', '?', '(', ')', '{', '}', '|', ']':
			return "", false
		default:
			godoGlobLiteral(&out, c)
		}
	}

	// No closing `$`: not anchored at the end.
	return "", false
}

// godoGlobLiteral writes one literal character as GLOB reads it.
func godoGlobLiteral(out *strings.Builder, c rune) {
	switch c {
	case '*', '?', '[':
		out.WriteString("[" + string(c) + "]")
	default:
		out.WriteRune(c)
	}
}

// godoGlobSet turns the bracket set at rs[start] into GLOB's: the index of its
// closing `]`, the set, and whether GLOB can say it (a literal `]` or `^` must
// come where GLOB reads them as literals).
func godoGlobSet(rs []rune, start int) (int, string, bool) {
	var out strings.Builder
	out.WriteRune('[')

	i := start + 1
	if i < len(rs) && rs[i] == '^' {
		out.WriteRune('^')
		i++
	}

	first := true

	for ; i < len(rs); i++ {
		c := rs[i]

		switch {
		case c == ']':
			if first {
				return 0, "", false
			}

			out.WriteRune(']')

			return i, out.String(), true
		case c == '\\':
			if i+1 >= len(rs) {
				return 0, "", false
			}

			i++
			c = rs[i]
			if c == ']' || (c == '^' && first) {
				return 0, "", false
			}
		case c == '[':
			return 0, "", false
		}

		out.WriteRune(c)
		first = false
	}

	return 0, "", false
}
