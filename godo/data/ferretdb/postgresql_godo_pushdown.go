// godo's addition to FerretDB v1.24.2, copied into internal/backends/postgresql by
// godo/data/build-ferretdb.sh: the PostgreSQL twin of the SQLite pushdown
// described in internal/backends/godo_pushdown.go.
//
// FerretDB's PostgreSQL backend pushes down only top-level equality, as
// `_jsonb->$1 @> $2`: the field's name a parameter, so no expression index matches
// it, not even the unique one on `_jsonb->'_id'` (an update or delete by _id read
// the whole table: 340 ms a document at 80k documents). Here every term is
// compared on `_jsonb->'field'`, the jsonb expression FerretDB's indexes are built
// on, with the name spelled in the SQL and the value a jsonb parameter:
//   - equality with a string, an ObjectID, a number, a boolean, a date (its
//     milliseconds, as stored), null (or missing); `$ne` a boolean or null;
//   - the ranges on a string or a number (a date is one), bracketed by
//     jsonb_typeof, since jsonb orders strings before numbers before booleans;
//   - a `$regex` without options of the shape godo makes of a glob, as the
//     POSIX expression that matches exactly what Go's does (`.` never a newline);
//   - an `$or` of such terms;
//   - then, when the whole filter was pushed down, a sort on one top-level field,
//     missing and null first as in MongoDB (the indexes godo's build makes hold
//     them first: metadata/godo_catalog.go), and the limit.
// What the handler gets back it still filters, sorts and limits. Where this is not
// MongoDB's answer: a field holding an array matches a value inside it in
// MongoDB, not here; a date and a number of the same milliseconds compare equal;
// and string ranges and sorts follow the database's collation, which is
// MongoDB's order (code points) under C or C.UTF-8 (`initdb --locale=C.UTF-8`).
// godo writes none of the first two, and makes its clusters with the third.

package postgresql

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/postgresql/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// godoColumn is a top-level field's jsonb value, spelled as FerretDB spells the
// columns of its indexes (metadata/registry.go), so that the planner uses them.
// The key is letters, digits and underscores (backends.GodoField): nothing to quote.
func godoColumn(key string) string {
	return fmt.Sprintf("(%s->'%s')", metadata.DefaultColumn, key)
}

// prepareGodoWhere returns the WHERE clause of what the filter holds that the
// backend compares in SQL, numbering its parameters from p; the rest is left to
// the handler. `lead` (godoLead): a top-level equality said as a range, so that
// the sort may go by it.
func prepareGodoWhere(p *metadata.Placeholder, filter *types.Document, lead string) (string, []any, error) {
	var conditions []string
	var args []any

	if lead != "" {
		v, _ := filter.Get(lead)
		conditions = append(conditions, fmt.Sprintf("%s >= ?::jsonb AND %s <= ?::jsonb", godoColumn(lead), godoColumn(lead)))
		args = append(args, godoJSON(v), godoJSON(v))
		filter = filter.DeepCopy()
		filter.Remove(lead)
	}

	rest, values, _ := backends.GodoWhere(filter, godoTerm)
	conditions, args = append(conditions, rest...), append(args, values...)
	if len(conditions) == 0 {
		return "", nil, nil
	}

	// Terms are built with `?` for their parameters (the SQL holds no other `?`:
	// names are plain, values are parameters) and numbered once kept.
	where := strings.Join(conditions, " AND ")

	var out strings.Builder
	out.WriteString(" WHERE ")

	for _, c := range where {
		if c == '?' {
			out.WriteString(p.Next())
		} else {
			out.WriteRune(c)
		}
	}

	return out.String(), args, nil
}

// godoTerm is one top-level field's term (_id too: on the jsonb expression its
// unique index is built on), by godoField.
func godoTerm(key string, v any) (string, []any, bool) {
	return godoField(godoColumn(key), v)
}

// godoField compares one field's jsonb value with a filter's value: equality with
// a scalar, or an operator document of `$eq`, `$ne`, `$regex` and ranges.
func godoField(column string, v any) (string, []any, bool) {
	doc, ok := v.(*types.Document)
	if !ok {
		return godoEqual(column, v)
	}

	if doc.Len() == 0 {
		return "", nil, false
	}

	var conditions []string
	var args []any

	// jsonb_typeof said once a type for all of a field's ranges and patterns (two
	// types: nothing matches, as in MongoDB).
	typed := map[string]bool{}
	bracket := func(kind string) string {
		if typed[kind] {
			return ""
		}

		typed[kind] = true

		return fmt.Sprintf(" AND jsonb_typeof(%s) = '%s'", column, kind)
	}

	for _, op := range doc.Keys() {
		arg, _ := doc.Get(op)

		var condition string
		var values []any

		switch {
		case op == "$eq":
			if condition, values, ok = godoEqual(column, arg); !ok {
				return "", nil, false
			}
		case op == "$ne":
			switch arg.(type) {
			case bool:
				// Missing (SQL NULL) and every other value are not it.
				condition, values = column+" IS DISTINCT FROM ?::jsonb", []any{godoJSON(arg)}
			case types.NullType:
				// Neither missing nor null: NULL <> 'null' is not true.
				condition = column + " <> 'null'::jsonb"
			default:
				return "", nil, false
			}
		case op == "$regex":
			posix, ok := backends.GodoRegex(doc, arg, godoPosix{})
			if !ok {
				return "", nil, false
			}

			// A function, not the `~` operator: the planner takes a regular
			// expression's literal characters for selectivity (rows=1 for a glob at 1M
			// documents) and reads the whole table to sort what matches; as a function's
			// it guesses a third, and walks the sort's index until the limit is met.
			condition = fmt.Sprintf("regexp_like(%s #>> '{}', ?)", column) + bracket("string")
			values = []any{posix}
		case backends.GodoRanges[op] != "":
			var kind string

			switch arg := arg.(type) {
			case string:
				kind = "string"
			case int32, int64, time.Time:
				kind = "number"
			case float64:
				if math.IsNaN(arg) || math.IsInf(arg, 0) {
					return "", nil, false
				}

				kind = "number"
			default:
				return "", nil, false
			}

			condition = fmt.Sprintf("%s %s ?::jsonb", column, backends.GodoRanges[op]) + bracket(kind)
			values = []any{godoJSON(arg)}
		default:
			return "", nil, false
		}

		conditions = append(conditions, condition)
		args = append(args, values...)
	}

	return strings.Join(conditions, " AND "), args, true
}

// godoEqual is equality with a scalar, as jsonb compares it (a number equals the
// same number of any BSON type, as in MongoDB); null matches a missing field too.
func godoEqual(column string, v any) (string, []any, bool) {
	switch v := v.(type) {
	case string, types.ObjectID, int32, int64, bool, time.Time:
		return column + " = ?::jsonb", []any{godoJSON(v)}, true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", nil, false
		}

		return column + " = ?::jsonb", []any{godoJSON(v)}, true
	case types.NullType:
		return "(" + column + " IS NULL OR " + column + " = 'null'::jsonb)", nil, true
	}

	return "", nil, false
}

// godoJSON is a filter's value as FerretDB stores it in `_jsonb` (a date is its
// milliseconds, an ObjectID its hex), as a jsonb parameter: pgx sends a string
// given for jsonb as the JSON text it is.
func godoJSON(v any) string {
	return string(must.NotFail(sjson.MarshalSingleValue(v)))
}

// godoLead is the field of the filter's top-level equality that leads the one
// index built for it and the sort's field (godo's `{run: R}` sorted by opened, on
// its index (run, opened)); "" when there is not exactly one. PostgreSQL, told the
// equality, drops the field from the sort (it is one value) and then prefers
// walking the sort field's own index, guessing the matches spread evenly along
// it: they are one run's, all at one end (6.6 s at 1M files, for 0.1 ms by the
// pair's index). Said as a range, the equality leaves the field in the sort,
// which only the pair's index gives without sorting.
func godoLead(filter, sort *types.Document, indexes metadata.Indexes) string {
	if filter == nil || sort.Len() != 1 || !backends.GodoField(sort.Keys()[0]) || sort.Keys()[0] == "_id" {
		return ""
	}

	by := sort.Keys()[0]
	lead := ""

	for _, index := range indexes {
		if len(index.Key) != 2 || index.Key[1].Field != by || index.Key[0].Descending || index.Key[1].Descending {
			continue
		}

		field := index.Key[0].Field
		v, _ := filter.Get(field)

		switch v.(type) {
		case string, types.ObjectID, int32, int64, bool, time.Time:
		default:
			continue
		}

		if lead != "" && lead != field {
			return ""
		}

		lead = field
	}

	return lead
}

// godoSortLead returns the ORDER BY clause of a sort led by `lead` (godoLead),
// else the backend's own.
func godoSortLead(sort *types.Document, lead string) (string, []any) {
	if lead == "" {
		return prepareOrderByClause(sort)
	}

	by := sort.Keys()[0]
	nulls := godoNulls(must.NotFail(sort.Get(by)).(int64))

	return " ORDER BY " + godoColumn(lead) + nulls + ", " + godoColumn(by) + nulls, nil
}

// godoNulls is the order of a field that may be missing, as godoOrderBy gives it.
func godoNulls(order int64) string {
	if order == -1 {
		return " DESC NULLS LAST"
	}

	return " NULLS FIRST"
}

// godoOrderBy returns the ORDER BY clause of a sort on one top-level field: a
// missing field first ascending and last descending, as MongoDB sorts it with
// null, which is how godo's build makes the indexes (one scanned either way).
// _id is never missing: its unique index is FerretDB's own, in PostgreSQL's order.
func godoOrderBy(key string, order int64) string {
	clause := " ORDER BY " + godoColumn(key)

	switch {
	case key == "_id" && order == -1:
		clause += " DESC"
	case key == "_id":
	default:
		clause += godoNulls(order)
	}

	return clause
}

// godoPosix is the PostgreSQL regular expression that matches the same strings as
// Go's glob-shaped one (backends.GodoPattern): `.` is `[^\n]` (PostgreSQL's `.`
// takes a newline, Go's does not; a bracket set takes one in both).
type godoPosix struct{}

func (godoPosix) Anchor(end bool) string {
	if end {
		return "$"
	}

	return "^"
}

func (godoPosix) Any(star bool) string {
	if star {
		return `[^\n]*`
	}

	return `[^\n]`
}

// Literal is an ASCII punctuation character escaped (a backslash before one is
// that character in an ARE), any other as is (a backslash before a letter would
// be an escape).
func (godoPosix) Literal(c rune) string {
	if c < 0x80 && !backends.GodoWord(c) && c > ' ' {
		return "\\" + string(c)
	}

	return string(c)
}

// Member is a set's member as Go's expression has it: both dialects read an
// escaped punctuation character in a set as that character.
func (godoPosix) Member(c rune, escaped, first bool) (string, bool) {
	if escaped {
		return "\\" + string(c), true
	}

	return string(c), true
}
