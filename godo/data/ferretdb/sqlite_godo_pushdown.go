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

// godoColumn is a top-level field's SQL value, spelled as this build's indexes
// spell it (metadata/registry.go), so that SQLite's planner uses them.
func godoColumn(key string) string {
	return fmt.Sprintf("%s->>%q", metadata.DefaultColumn, key)
}

// prepareGodoWhere returns the WHERE clause of what the filter holds that the
// backend compares in SQL; the rest is left to the handler.
func prepareGodoWhere(filter *types.Document) (string, []any) {
	conditions, args, _ := backends.GodoWhere(filter, godoTerm)
	if len(conditions) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conditions, " AND "), args
}

// godoTerm is one top-level field's term: _id (a string or an ObjectID) on
// FerretDB's own column, which its unique index is built on; any other field by
// godoField.
func godoTerm(key string, v any) (string, []any, bool) {
	if key != "_id" {
		return godoField(godoColumn(key), v)
	}

	switch v.(type) {
	case string, types.ObjectID:
		return metadata.IDColumn + " = ?", []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}, true
	}

	return "", nil, false
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
				glob, ok := backends.GodoRegex(v, arg, godoGlob{})
				if !ok {
					return "", nil, false
				}

				conditions = append(conditions, column+" GLOB ?")
				args = append(args, glob)
			case backends.GodoRanges[op] != "":
				switch arg.(type) {
				case string, int32, int64, float64, time.Time:
					conditions = append(conditions, column+" "+backends.GodoRanges[op]+" ?")
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

// godoGlob is SQLite's GLOB pattern that matches every string a glob-shaped
// regular expression matches (backends.GodoPattern): a superset, since GLOB's `?`
// takes a newline and the expression's `.` does not (the handler filters again).
// GLOB is anchored at both ends already and has no escape: a literal `*`, `?` or
// `[` is a set of one.
type godoGlob struct{}

func (godoGlob) Anchor(end bool) string { return "" }

func (godoGlob) Any(star bool) string {
	if star {
		return "*"
	}

	return "?"
}

func (godoGlob) Literal(c rune) string {
	switch c {
	case '*', '?', '[':
		return "[" + string(c) + "]"
	}

	return string(c)
}

// Member is a set's member as is: GLOB reads a `]` or `^` opening the set, and a
// `-` between two members, otherwise than as literals, so those escaped are not
// said.
func (godoGlob) Member(c rune, escaped, first bool) (string, bool) {
	if escaped && (c == ']' || c == '-' || (c == '^' && first)) {
		return "", false
	}

	return string(c), true
}
