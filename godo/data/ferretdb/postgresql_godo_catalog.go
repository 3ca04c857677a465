// godo's addition to FerretDB v1.24.2, copied into
// internal/backends/postgresql/metadata by godo/data/build-ferretdb.sh.
//
// Many front-ends, one catalog. Each FerretDB reads the catalog (which schemas
// are databases, their collections and indexes) once, at its first request, and
// then trusts its copy. A front-end that read it before another made godo's
// database, a collection or an index made it again and failed: `relation
// "_ferretdb_database_metadata" already exists (SQLSTATE 42P07)`; and a
// collection's row of the catalog, which each rewrites whole with the indexes it
// knows, lost the indexes another had just added. Here every create that is not
// already known to be done takes a lock all front-ends share (a transaction's
// advisory lock on a connection of its own, released if the front-end dies),
// reads the catalog again under it, and only then creates what is missing: one
// front-end at a time, each knowing what the others made. A create that still
// finds its object there (a front-end of another build) re-reads the catalog and
// is tried again, a few times over a second or so.
//
// And the indexes hold missing and null first ascending (last descending), as
// MongoDB sorts them and godo's pushdown asks (../godo_pushdown.go).

package metadata

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// godoLockKey names the advisory lock of catalog changes (any number: FerretDB
// takes no other).
const godoLockKey = 0x676f646f // "godo"

// godoAttempts bounds the tries of one create; between them the wait grows
// from 10 ms (about 1.5 s in all), time for another front-end's few statements.
const godoAttempts = 8

// godoCreate runs create, which holds the registry's write lock: at once when
// `known` says there is nothing to make, else under the lock all front-ends
// share, on a catalog read again under it.
func (r *Registry) godoCreate(ctx context.Context, p *pgxpool.Pool, known bool, create func() error) error {
	if known {
		return create()
	}

	tx, err := p.Begin(ctx)
	if err != nil {
		return lazyerrors.Error(err)
	}

	// Nothing is written in it: it holds the lock until the rollback (or until
	// the connection is gone).
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the lock goes with the transaction

	if _, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(godoLockKey)); err != nil {
		return lazyerrors.Error(err)
	}

	if err = r.godoReload(ctx, p); err != nil {
		return lazyerrors.Error(err)
	}

	return r.godoRetry(ctx, p, create)
}

// godoRetry runs create; while it fails because another front-end made the same
// object, it re-reads the catalog and runs it again.
func (r *Registry) godoRetry(ctx context.Context, p *pgxpool.Pool, create func() error) error {
	wait := 10 * time.Millisecond

	for attempt := 1; ; attempt++ {
		err := create()
		if err == nil || attempt == godoAttempts || !godoRaced(err) {
			return err
		}

		r.l.InfoContext(ctx, "another front-end changed the catalog; reading it again", "error", err)

		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}

		wait *= 2

		if rerr := r.godoReload(ctx, p); rerr != nil {
			return lazyerrors.Error(rerr)
		}
	}
}

// godoRaced reports whether err says that what was being created already exists:
// a relation (table or index) or schema by name, or a catalog row (a concurrent
// CREATE ... IF NOT EXISTS, or the metadata table's unique indexes).
func godoRaced(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}

	switch pgErr.Code {
	case pgerrcode.DuplicateTable, pgerrcode.DuplicateSchema, pgerrcode.DuplicateObject,
		pgerrcode.UniqueViolation:
		return true
	}

	return false
}

// godoReload reads the whole catalog again, as getPool does the first time;
// called with the write lock held. On failure the copy is dropped, so that the
// next request reads it.
func (r *Registry) godoReload(ctx context.Context, p *pgxpool.Pool) error {
	dbNames, err := r.initDBs(ctx, p)
	if err != nil {
		r.colls = nil
		return lazyerrors.Error(err)
	}

	r.colls = make(map[string]map[string]*Collection, len(dbNames))

	for _, dbName := range dbNames {
		if err = r.initCollections(ctx, dbName, p); err != nil {
			r.colls = nil
			return lazyerrors.Error(err)
		}
	}

	return nil
}

// godoNullsOrder is the order of an index column after its expression: missing
// (SQL NULL) first ascending, last descending, as MongoDB sorts a missing field
// (with null, which jsonb orders first too). _id is never missing: its index is
// left as FerretDB makes it.
func godoNullsOrder(key IndexKeyPair) string {
	switch {
	case key.Field == "_id" && key.Descending:
		return " DESC"
	case key.Field == "_id":
		return ""
	case key.Descending:
		return " DESC NULLS LAST"
	default:
		return " NULLS FIRST"
	}
}
