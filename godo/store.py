"""The store writer: document mutations into MongoDB, in bulk, on its own thread.

A mutation is `(collection, document)`. Every document carries `_id` and `host`
(the store adds its host when the document has none), and every write replaces the
whole document by `_id`, inserting it when absent, so a batch written twice leaves
the database as written once.

The tracker thread hands `write()` a batch and returns at once: the batch joins a
backlog in memory, never a database call. The writer thread takes up to
`batch_size` mutations from the head of the backlog when that many are waiting or
the oldest has waited `flush_interval`, keeps the last version of each document,
and sends one unordered bulk write per collection. A batch leaves the backlog only
once the database has acknowledged it; until then the writer retries with backoff,
so a database that is down loses nothing.

On MongoDB the bulk write is `ReplaceOne(upsert=True)` per document. FerretDB 1.x
over SQLite needs another shape for the same result (measured on v1.24.2):
  - an `update` command whose statements match more than ~100 existing documents
    never returns: each matched statement keeps a pooled SQLite connection until
    the command ends, and the pool has 100;
  - its `_id` lookups for update and delete do not use the `_id` index (the query
    says `->'$._id'`, the index `->"_id"`), so each costs a scan of the collection,
    while inserts are indexed and batched.
So there, documents are inserted in one unordered `insert`, and only those that
already exist are replaced, in `update` commands of at most 40 statements.
"""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.parse
from collections import deque
from contextlib import ExitStack, contextmanager
from pathlib import Path

import bson
import pymongo
from bson.errors import InvalidDocument
from pymongo import IndexModel, ReplaceOne, monitoring
from pymongo.errors import (BulkWriteError, ConfigurationError, ConnectionFailure,
                            OperationFailure, PyMongoError)

from .errors import StoreError
from .paths import hostname

Mutation = tuple[str, dict]

DEFAULT_DATABASE = "godo"

INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "processes": [[("host", 1), ("start", 1)], [("pid", 1)], [("parent", 1)], [("container", 1)]],
    "files": [[("process", 1)], [("path", 1)], [("container", 1)]],
    "containers": [[("host", 1)]],
    "runs": [[("host", 1), ("started", 1)]],
}

# Server error codes after which the same write can succeed: network and failover
# states, time limits, write conflicts, and a duplicate key from two upserts racing.
_RETRYABLE_CODES = frozenset({6, 7, 50, 64, 89, 91, 112, 189, 262, 9001, 10107, 11000,
                              11600, 11602, 13435, 13436})
_DUPLICATE_KEY = 11000
_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 5.0


# -- URIs and error lines --------------------------------------------------------------

_SECRET_OPTION = re.compile(r"password|secret|token|authmechanismproperties", re.IGNORECASE)


def redact(uri: str) -> str:
    """`uri` fit to print: user and password masked, and any option that may hold a
    secret. Masks too much rather than too little when the URI is malformed."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    at = rest.rfind("@")
    if at >= 0:
        rest = ("***:***" if ":" in rest[:at] else "***") + rest[at:]
    head, question, query = rest.partition("?")
    if question:
        parts = re.split(r"([&;])", query)
        for i, part in enumerate(parts):
            key, eq, _value = part.partition("=")
            if eq and _SECRET_OPTION.search(key):
                parts[i] = f"{key}=***"
        query = "".join(parts)
    return scheme + sep + head + question + query


def resolve_uri(uri: str | None) -> str | None:
    """The URI given, else $GODO_MONGO_URI, else None (the embedded FerretDB)."""
    return uri or os.environ.get("GODO_MONGO_URI") or None


def _reason(exc: BaseException, uri: str | None = None) -> str:
    """A pymongo error as one short line, with no credentials in it."""
    text = str(exc) or type(exc).__name__
    # pymongo appends a topology dump, the configured timeouts or the server's
    # whole reply; the reason comes first.
    for tail in (", Timeout:", " (configured timeouts:", ", full error:"):
        text = text.split(tail, 1)[0]
    text = " ".join(text.split())
    if uri:
        userinfo = uri.partition("://")[2].rpartition("@")[0]
        password = userinfo.partition(":")[2]
        for secret in {userinfo, password, urllib.parse.unquote_plus(password)} - {""}:
            text = text.replace(secret, "***")
    return text if len(text) <= 300 else text[:297] + "..."


def _connect_error(exc: PyMongoError, uri: str) -> StoreError:
    where = redact(uri)
    if isinstance(exc, ConfigurationError):
        return StoreError(f"invalid database URI {where}: {_reason(exc, uri)}")
    if isinstance(exc, ConnectionFailure):
        return StoreError(f"cannot reach the database at {where}: {_reason(exc, uri)}")
    if isinstance(exc, OperationFailure) and exc.code in (13, 18):
        return StoreError(f"the database at {where} refused godo: {_reason(exc, uri)}")
    return StoreError(f"the database at {where} failed: {_reason(exc, uri)}")


def _client(uri: str, timeout: float, listeners=()) -> pymongo.MongoClient:
    options = {"appname": "godo", "event_listeners": list(listeners)}
    # Options in the URI win: it is used as the user gave it.
    lowered = uri.lower()
    for name in ("serverSelectionTimeoutMS", "connectTimeoutMS"):
        if name.lower() not in lowered:
            options[name] = max(1, int(timeout * 1000))
    try:
        return pymongo.MongoClient(uri, **options)
    except ValueError as exc:
        # pymongo raises a bare ValueError for some malformed URIs (a bad port).
        raise ConfigurationError(str(exc)) from None


# -- the backlog -------------------------------------------------------------------------

class _Backlog:
    """Mutations accepted and not yet acknowledged by the database, oldest first.

    The writer reads a chunk from the head with `peek` and drops it with `ack` only
    once the database has acknowledged it, so a failed write is simply read again.
    This is where the spill journal goes: a backlog that, past `limit`, appends the
    batches to a local file instead of memory and reads them back in order in
    `peek`, behind the same calls. Until it exists, a backlog past its limit keeps
    growing in memory and counts the batches it took there: nothing is dropped.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.over_limit = 0
        self.peak = 0
        self._batches: deque = deque()  # [mutations, offset, arrived]
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, mutations: list, arrived: float) -> None:
        self._batches.append([mutations, 0, arrived])
        self._len += len(mutations)
        self.peak = max(self.peak, self._len)
        if self._len > self.limit:
            self.over_limit += 1

    def oldest(self) -> float:
        return self._batches[0][2]

    def peek(self, n: int) -> list:
        chunk: list = []
        for mutations, offset, _arrived in self._batches:
            chunk.extend(mutations[offset:offset + n - len(chunk)])
            if len(chunk) >= n:
                break
        return chunk

    def ack(self, n: int) -> None:
        self._len -= n
        batches = self._batches
        while n:
            head = batches[0]
            left = len(head[0]) - head[1]
            if n < left:
                head[1] += n
                return
            batches.popleft()
            n -= left


# -- round trips ---------------------------------------------------------------------------

class _RoundTrips(monitoring.CommandListener):
    """Counts the commands this store's client sends (one per database round trip)
    and those that succeeded."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = self.succeeded_count = 0
        self.by_command: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.count += 1
            self.by_command[event.command_name] = self.by_command.get(event.command_name, 0) + 1

    def succeeded(self, event) -> None:
        with self._lock:
            self.succeeded_count += 1

    def failed(self, event) -> None:
        pass


# -- stores ------------------------------------------------------------------------------------

class _Store:
    """What both stores share: the mutation contract, stats and the `with` form."""

    def __init__(self, host: str | None):
        self.host = host or hostname()
        # Pids of a local database server godo started: the recorder must not audit them.
        self.server_pids: tuple[int, ...] = ()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        pass

    def _checked(self, mutations) -> list:
        mutations = list(mutations)
        host = self.host
        for name, doc in mutations:
            if "_id" not in doc:
                raise ValueError(f"a {name} document without _id: {sorted(doc)[:8]}")
            if "host" not in doc:
                doc["host"] = host
        return mutations


class NullStore(_Store):
    """Discards every mutation and counts it: the pipeline without a database."""

    def __init__(self, host: str | None = None):
        super().__init__(host)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def write(self, mutations: list[Mutation]) -> None:
        mutations = self._checked(mutations)
        with self._lock:
            counts = self._counts
            for name, _doc in mutations:
                counts[name] = counts.get(name, 0) + 1

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass

    def stats(self) -> dict:
        with self._lock:
            counts = dict(self._counts)
        total = sum(counts.values())
        return {"store": "null", "submitted": total, "written": total, "collections": counts,
                "queued": 0, "bulk_calls": 0, "round_trips": 0, "errors": 0, "rejected": 0,
                "coalesced": 0, "last_error": None, "backlog_peak": 0, "over_limit": 0}


class _Retry(Exception):
    """The chunk failed in a way that a later attempt can fix."""


class MongoStore(_Store):
    """Writes mutations to MongoDB (or FerretDB) on a writer thread; see the module.

    `start()` connects, checks the server and creates the indexes; `write()` queues;
    `flush()` waits for the database to acknowledge what was queued; `close()`
    flushes and stops, and raises StoreError if the database stopped taking writes
    for `stall_timeout` seconds with mutations still unwritten.
    """

    def __init__(self, uri: str, database: str = DEFAULT_DATABASE, *, host: str | None = None,
                 batch_size: int = 1000, flush_interval: float = 1.0, timeout: float = 5.0,
                 max_queued: int = 200_000, stall_timeout: float = 30.0):
        super().__init__(host)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.uri = uri
        self.database_name = database
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self._round_trips = _RoundTrips()
        self._client: pymongo.MongoClient | None = None
        self._db = None
        self._insert_first = False
        self._max_update_statements: int | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._backlog = _Backlog(max_queued)
        self._closing = self._abandon = self._closed = False
        self._flushing = 0
        # Counters below change under self._cond.
        self._submitted = self._done = 0
        self._written: dict[str, int] = {}
        self._bulk_calls = self._errors = self._rejected = self._coalesced = 0
        self._last_error: str | None = None

    def __repr__(self) -> str:
        return f"MongoStore({redact(self.uri)!r}, {self.database_name!r})"

    @property
    def db(self):
        return self._db

    # -- start --------------------------------------------------------------------------

    def start(self) -> None:
        if self._client is not None:
            return
        client = None
        try:
            client = _client(self.uri, self.timeout, [self._round_trips])
            info = client.admin.command("buildInfo")
            self._plan_for(info)
            self._db = client[self.database_name]
            for name, keys in INDEXES.items():
                # One index a command: FerretDB 1.24 panics on a createIndexes that
                # names several indexes that all exist already (a second start).
                for k in keys:
                    self._db[name].create_indexes([IndexModel(k)])
        except PyMongoError as exc:
            if client is not None:
                client.close()
            raise _connect_error(exc, self.uri) from None
        self._client = client
        self._thread = threading.Thread(target=self._run, name="godo-store-writer", daemon=True)
        self._thread.start()

    def _plan_for(self, build_info: dict) -> None:
        ferretdb = build_info.get("ferretdbVersion")
        if isinstance(ferretdb, str) and ferretdb.lstrip("v").split(".")[0] == "1":
            self._insert_first = True
            # Under the 100 pooled connections one update command may hold, with
            # room for a second writer and for readers on the same database.
            self._max_update_statements = 40

    # -- the tracker's side ------------------------------------------------------------------

    def write(self, mutations: list[Mutation]) -> None:
        """Queue a batch of mutations; never waits for the database. The store owns
        the documents from here: the caller must not change them afterwards."""
        if not mutations:
            return
        mutations = self._checked(mutations)
        with self._cond:
            if self._closing:
                raise RuntimeError("write to a closed store")
            was_empty = not self._backlog
            over = self._backlog.over_limit
            self._backlog.append(mutations, time.monotonic())
            self._submitted += len(mutations)
            if self._backlog.over_limit and not over:
                self._last_error = (f"the database is behind: {len(self._backlog)} mutations "
                                    "queued in memory")
            if was_empty or len(self._backlog) >= self.batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the database has acknowledged every mutation written so far;
        False if `timeout` seconds passed first."""
        if self._thread is None:
            raise RuntimeError("the store is not started")
        with self._cond:
            target = self._submitted
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._done >= target, timeout)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Flush and stop. Raises StoreError when mutations remain unwritten because
        the database made no progress for `stall_timeout` seconds."""
        if self._closed or self._thread is None:
            self._closed = True
            return
        self._closed = True
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            # Progress is any command answered, not only a whole chunk: one chunk can
            # take minutes on a slow server.
            progress = lambda: (self._done, self._round_trips.succeeded_count)  # noqa: E731
            last, last_progress = progress(), time.monotonic()
            while self._done < self._submitted:
                self._cond.wait(0.2)
                if progress() != last:
                    last, last_progress = progress(), time.monotonic()
                elif time.monotonic() - last_progress > self.stall_timeout:
                    self._abandon = True
                    self._cond.notify_all()
                    break
            unwritten = self._submitted - self._done
            last_error = self._last_error
        self._thread.join(self.timeout + 5.0)
        self._client.close()
        if unwritten:
            raise StoreError(f"{unwritten} document writes were not saved: the database at "
                             f"{redact(self.uri)} stopped taking them ({last_error})")

    def stats(self) -> dict:
        trips = self._round_trips
        with self._cond:
            return {
                "store": "mongo", "submitted": self._submitted,
                "written": sum(self._written.values()), "collections": dict(self._written),
                "queued": self._submitted - self._done, "bulk_calls": self._bulk_calls,
                "round_trips": trips.count, "errors": self._errors, "rejected": self._rejected,
                "coalesced": self._coalesced, "last_error": self._last_error,
                "backlog_peak": self._backlog.peak, "over_limit": self._backlog.over_limit,
            }

    # -- the writer thread ---------------------------------------------------------------------

    def _due(self) -> bool:
        backlog = self._backlog
        return bool(backlog) and (
            self._closing or self._flushing > 0 or len(backlog) >= self.batch_size
            or time.monotonic() - backlog.oldest() >= self.flush_interval)

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while not self._due():
                    if self._closing and not self._backlog:
                        return
                    wait = None
                    if self._backlog:
                        wait = max(0.0, self.flush_interval - (time.monotonic() - self._backlog.oldest()))
                    self._cond.wait(wait)
                if self._abandon:
                    return
                chunk = self._backlog.peek(self.batch_size)
            try:
                written, rejected = self._write_chunk(chunk)
            except _Retry as exc:
                reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the writer
                reason = f"{type(exc).__name__}: {_reason(exc, self.uri)}"
            else:
                backoff = 0.0
                with self._cond:
                    self._backlog.ack(len(chunk))
                    self._done += len(chunk)
                    for name, n in written.items():
                        self._written[name] = self._written.get(name, 0) + n
                    self._coalesced += len(chunk) - sum(written.values()) - len(rejected)
                    if rejected:
                        self._rejected += len(rejected)
                        self._last_error = rejected[-1]
                    self._cond.notify_all()
                continue
            backoff = min(_BACKOFF_MAX, max(_BACKOFF_MIN, backoff * 2))
            with self._cond:
                self._errors += 1
                self._last_error = reason
                # New writes wake the condition; only close() may cut the backoff short.
                deadline = time.monotonic() + backoff
                while not self._abandon and time.monotonic() < deadline:
                    self._cond.wait(deadline - time.monotonic())
                if self._abandon:
                    return

    def _write_chunk(self, chunk: list) -> tuple[dict[str, int], list[str]]:
        """Write one chunk; returns documents written per collection and the reasons
        for documents the database refused for good. Raises _Retry otherwise."""
        groups: dict[str, dict] = {}
        for name, doc in chunk:
            # The last version of a document within the chunk is the one to write.
            groups.setdefault(name, {})[_key(doc["_id"])] = doc
        written: dict[str, int] = {}
        rejected: list[str] = []
        for name, by_id in groups.items():
            docs = list(by_id.values())
            refused = self._write_collection(self._db[name], docs)
            rejected.extend(refused)
            written[name] = len(docs) - len(refused)
        return written, rejected

    def _write_collection(self, coll, docs: list) -> list[str]:
        rejected: list[str] = []
        while True:
            try:
                if self._insert_first:
                    rejected += self._insert_then_replace(coll, docs)
                else:
                    rejected += self._replace(coll, docs)
                return rejected
            except InvalidDocument:
                # Client-side: a document BSON cannot hold. Refuse those, keep the rest.
                bad = [doc for doc in docs if _unencodable(doc)]
                if not bad:
                    raise
                rejected += [f"{coll.name} {doc['_id']!r}: {_unencodable(doc)}" for doc in bad]
                bad_ids = {id(doc) for doc in bad}
                docs = [doc for doc in docs if id(doc) not in bad_ids]
                if not docs:
                    return rejected

    def _bulk(self, coll, docs: list, insert: bool) -> list[dict]:
        """One bulk call; returns the write errors for single documents."""
        with self._cond:
            self._bulk_calls += 1
        try:
            if insert:
                coll.insert_many(docs, ordered=False)
            else:
                coll.bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs],
                                ordered=False)
        except BulkWriteError as exc:
            details = exc.details or {}
            if details.get("writeConcernErrors"):
                raise _Retry(f"{coll.name}: write concern error: "
                             f"{details['writeConcernErrors'][0].get('errmsg')}") from None
            return list(details.get("writeErrors") or ())
        except (ConnectionFailure, OperationFailure) as exc:
            raise _Retry(f"{coll.name}: {_reason(exc, self.uri)}") from None
        return []

    def _replace(self, coll, docs: list) -> list[str]:
        step = self._max_update_statements or len(docs)
        rejected: list[str] = []
        for start in range(0, len(docs), step):
            part = docs[start:start + step]
            rejected += self._refused(coll, part, self._bulk(coll, part, insert=False))
        return rejected

    def _insert_then_replace(self, coll, docs: list) -> list[str]:
        errors = self._bulk(coll, docs, insert=True)
        existing = [docs[e["index"]] for e in errors if e.get("code") == _DUPLICATE_KEY]
        rejected = self._refused(coll, docs, [e for e in errors if e.get("code") != _DUPLICATE_KEY])
        if existing:
            rejected += self._replace(coll, existing)
        return rejected

    def _refused(self, coll, docs: list, errors: list[dict]) -> list[str]:
        """Reasons for the documents refused for good; _Retry if any may succeed later."""
        retry = [e for e in errors if e.get("code") in _RETRYABLE_CODES]
        if retry:
            raise _Retry(f"{coll.name}: {retry[0].get('errmsg')} (code {retry[0].get('code')})")
        return [f"{coll.name} {docs[e['index']]['_id']!r}: {e.get('errmsg')} (code {e.get('code')})"
                for e in errors]


def _key(value):
    """A dict key equal for equal `_id`s; compound ids are compared as BSON, as the
    database compares them."""
    try:
        hash(value)
        return value
    except TypeError:
        return bson.encode({"": value})


def _unencodable(doc: dict) -> str | None:
    try:
        size = len(bson.encode(doc))
    except (InvalidDocument, TypeError, OverflowError) as exc:
        return str(exc)
    return f"{size} bytes is over the 16 MiB document limit" if size > 16 * 1024 * 1024 else None


# -- opening a store, reading the database ----------------------------------------------------------

@contextmanager
def open_store(uri: str | None, data_dir: str | os.PathLike, *, null: bool = False,
               database: str = DEFAULT_DATABASE, host: str | None = None, **options):
    """The store to record into, started, closed (flushed) on exit.

    With a URI (given, or $GODO_MONGO_URI) it writes there; with none, into the
    embedded FerretDB under `data_dir`, started for the purpose or already running.
    `null` discards everything.
    """
    if null:
        with NullStore(host) as store:
            yield store
        return
    uri = resolve_uri(uri)
    with ExitStack() as stack:
        server_pids: tuple[int, ...] = ()
        if uri is None:
            from .ferret import connect_or_start
            ferret = stack.enter_context(connect_or_start(Path(data_dir)))
            uri, server_pids = ferret.uri, (ferret.pid,)
        store = MongoStore(uri, database, host=host, **options)
        store.server_pids = server_pids
        # Entered last, so it is closed (flushed) before the server stops.
        stack.enter_context(store)
        yield store


@contextmanager
def database(uri: str | None, data_dir: str | os.PathLike, *, name: str = DEFAULT_DATABASE,
             timeout: float = 5.0):
    """A pymongo Database to query, like `open_store` finds one; database errors
    inside the block become one-line StoreErrors."""
    uri = resolve_uri(uri)
    with ExitStack() as stack:
        if uri is None:
            from .ferret import connect_or_start
            uri = stack.enter_context(connect_or_start(Path(data_dir))).uri
        try:
            client = _client(uri, timeout)
            stack.callback(client.close)
            client.admin.command("ping")
        except PyMongoError as exc:
            raise _connect_error(exc, uri) from None
        try:
            yield client[name]
        except PyMongoError as exc:
            raise StoreError(f"reading {redact(uri)} failed: {_reason(exc, uri)}") from None
