"""Opening the store a run writes into, or the database a query reads, by URI or
the embedded FerretDB."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack, contextmanager

from ..errors import StoreError
from .base import NullStore
from .schema import DEFAULT_DATABASE


@contextmanager
def open_store(uri: str | None, data_dir: str | os.PathLike, *, null: bool = False,
               database: str = DEFAULT_DATABASE, host: str | None = None,
               postgresql: str | None = None, **options):
    """The store to record into, started, closed (flushed) on exit.

    With a URI (given, or $GODO_MONGO_URI) it writes there; with a PostgreSQL URL,
    through this host's own FerretDB front-end on that cluster; with neither, into
    the embedded FerretDB under `data_dir`. Either FerretDB is started for the
    purpose or already running. `null` discards everything.
    """
    if null:
        with NullStore(host) as store:
            yield store
        return
    # pymongo (and pathlib) are imported only for a database: `--store null` starts
    # without them.
    from pathlib import Path

    from .uri import resolve_uri
    from .journal_dir import journal_dir_of, legacy_journal_dir
    from .writer import MongoStore
    uri = None if postgresql else resolve_uri(uri)
    if "journal_dir" not in options:
        # Named once connected, from the database's identity; a journal of the
        # old naming for this URI is moved under it.
        legacy = legacy_journal_dir(data_dir, uri or _without_password(postgresql), database)
        options["journal_for"] = lambda db: journal_dir_of(data_dir, db, legacy)
    with ExitStack() as stack:
        server_pids: tuple[int, ...] = ()
        if uri is None:
            from .ferret_connect import connect_or_start
            ferret = stack.enter_context(connect_or_start(Path(data_dir), postgresql=postgresql))
            uri, server_pids = ferret.uri, (ferret.pid,)
            _name_the_cluster(stack, ferret)
        store = MongoStore(uri, database, host=host, **options)
        store.server_pids = server_pids
        stack.callback(_say_what_is_left, store)
        # Entered last, so it is closed (flushed) before the server stops.
        stack.enter_context(store)
        yield store


def _without_password(postgresql: str | None) -> str | None:
    if not postgresql:
        return None
    from .postgresql import split_password
    return split_password(postgresql)[0]


def _name_the_cluster(stack: ExitStack, ferret) -> None:
    if ferret.postgresql:
        from .postgresql import naming_the_cluster
        stack.enter_context(naming_the_cluster(ferret.uri, ferret.postgresql))


def _say_what_is_left(store) -> None:
    left = store.journaled
    if left and store.journal is not None:
        print(f"godo: the database did not take {left} document writes before godo stopped; "
              f"they are in the journal {store.journal.dir} and go in at the next start",
              file=sys.stderr)


QUERY_TIMEOUT = 600.0  # seconds one query may take; Ctrl-C stops it sooner


@contextmanager
def database(uri: str | None, data_dir: str | os.PathLike, *, name: str = DEFAULT_DATABASE,
             timeout: float = 5.0, postgresql: str | None = None):
    """A pymongo Database to query, like `open_store` finds one; database errors
    inside the block become one-line StoreErrors."""
    from pathlib import Path

    from pymongo.errors import PyMongoError

    from .client import client, connect_error, reason
    from .uri import redact, resolve_uri
    uri = None if postgresql else resolve_uri(uri)
    with ExitStack() as stack:
        if uri is None:
            from .ferret_connect import connect_or_start
            # A command that reads makes no directory: no store there is said.
            ferret = stack.enter_context(connect_or_start(Path(data_dir), create=False,
                                                          postgresql=postgresql))
            uri = ferret.uri
            _name_the_cluster(stack, ferret)
        try:
            # A query the server answers by reading a whole collection (FerretDB's
            # SQLite backend, for what godo's build does not push down: a glob's
            # regex, say) takes minutes on a big store.
            conn = client(uri, timeout, socket_timeout=QUERY_TIMEOUT)
            stack.callback(conn.close)
            conn.admin.command("ping")
        except PyMongoError as exc:
            raise connect_error(exc, uri) from None
        try:
            yield conn[name]
        except PyMongoError as exc:
            raise StoreError(f"reading {redact(uri)} failed: {reason(exc, uri)}") from None
