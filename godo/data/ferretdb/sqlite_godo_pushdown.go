// godo's addition to FerretDB v1.24.2, copied into internal/backends/sqlite by
// godo/data/build-ferretdb.sh: the SQL of the pushdown described in
// internal/backends/godo_pushdown.go.

package sqlite

import (
	"fmt"
	"strings"

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

// prepareGodoWhere returns the WHERE clause of every equality in the filter the
// backend can compare in SQL; the others are left to the handler.
func prepareGodoWhere(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}

	var conditions []string
	var args []any

	for _, key := range filter.Keys() {
		v, _ := filter.Get(key)

		if key == "_id" {
			switch v.(type) {
			case string, types.ObjectID:
				conditions = append(conditions, metadata.IDColumn+" = ?")
				args = append(args, string(must.NotFail(sjson.MarshalSingleValue(v))))
			}

			continue
		}

		if !backends.GodoField(key) {
			continue
		}

		if comparisons, values, ok := backends.GodoConditions(v); ok {
			for _, comparison := range comparisons {
				conditions = append(conditions, godoColumn(key)+" "+comparison)
			}

			args = append(args, values...)
		}
	}

	if len(conditions) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conditions, " AND "), args
}

// godoOrderBy returns the ORDER BY clause of a sort on one top-level field.
func godoOrderBy(key string, order int64) string {
	clause := " ORDER BY " + godoColumn(key)
	if order == -1 {
		clause += " DESC"
	}

	return clause
}
