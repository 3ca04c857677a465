"""The store writer: document mutations into MongoDB, in bulk, on its own thread.

A mutation is `(collection, document)`. Every document carries `_id` and `host`
(the store adds its host when the document has none), and every write replaces the
whole document by `_id`, inserting it when absent, so a batch written twice leaves
the database as written once.

The live thread (the tracker) hands `write()` a batch and returns at once: the
batch joins an inbox as it is, with no encoding and no database call (only when
the writer lags by more than `max(4 * batch_size, 10,000)` mutations and the
stream is calm does `write()` encode the inbox itself, so that what waits is
compact). The writer
thread encodes the inbox into the backlog, takes up to `batch_size` mutations from
the head of the backlog when that many are waiting or the oldest has waited
`flush_interval`, keeps the last version of each document, and sends one
unordered bulk write per collection. A batch leaves the backlog only once the
database has acknowledged it; until then the writer retries with backoff, so a
database that is down loses nothing.

The live stream comes first: while the recorder says the kernel's stream is dense
(`pressure()`), the writer neither encodes nor sends, so that the live thread has
the interpreter and the CPUs to itself, and it catches up once the stream calms
down; see `MongoStore`.

Documents are encoded to BSON once, on the writer thread (a document BSON cannot
hold is refused there, counted with its reason), and sent as `RawBSONDocument`s,
so the same bytes go to memory, to the spill journal (`godo.journal`) and to the
database. Past `max_queued` mutations in memory, or once one has waited
`spill_after` seconds, batches go to the journal instead, and come back from it
in order; see `MongoStore` for the policy when the journal is full and at close.

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

import fcntl
import hashlib
import os
import re
import sys
import threading
import time
import urllib.parse
from collections import deque
from contextlib import ExitStack, contextmanager
from pathlib import Path

import bson
import pymongo
from bson.errors import InvalidDocument
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel, ReplaceOne, monitoring
from pymongo.errors import (BulkWriteError, ConfigurationError, ConnectionFailure,
                            OperationFailure, PyMongoError)

from .errors import StoreError
from .journal import Journal, JournalError, JournalFull, key_of
from .paths import hostname, private_dir

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
    if "sockettimeoutms" not in lowered:
        # A server that takes a command and never answers must not hold a thread
        # forever; slow FerretDB commands take seconds, not this long.
        options["socketTimeoutMS"] = max(30_000, int(timeout * 6000))
    try:
        return pymongo.MongoClient(uri, **options)
    except ValueError as exc:
        # pymongo raises a bare ValueError for some malformed URIs (a bad port).
        raise ConfigurationError(str(exc)) from None


# -- the backlog -------------------------------------------------------------------------

class _Backlog:
    """Mutations accepted and not yet acknowledged by the database, oldest first,
    in memory and, past its bound, in the spill journal.

    The writer reads a chunk from the head with `peek` and drops it with `ack` only
    once the database has acknowledged it, so a failed write is simply read again.
    An entry is `(collection, _id, key, BSON bytes)`.

    Memory holds batches read back from the journal (`loaded`, oldest) followed by
    batches that are only in memory (`native`). `spill` moves the native ones to
    the end of the journal, and while the journal holds anything unread every new
    batch goes there too, so the order of the whole is the order of arrival. With
    no journal, a backlog past its limit keeps growing in memory and counts the
    batches it took there: nothing is dropped.
    """

    def __init__(self, limit: int, journal: Journal | None = None):
        self.limit = limit
        self.journal = journal
        self.over_limit = 0
        self.peak = 0
        self.spilled = 0        # mutations written to the journal
        self.spills = 0         # times memory went to the journal
        self.loaded = 0         # mutations read back from the journal
        self._batches: deque = deque()  # [entries, offset, arrived, journal position or None]
        self._memory = 0        # unacknowledged mutations in memory
        self._native = 0        # of those, the ones that are in memory only

    def __len__(self) -> int:
        return self._memory + (self.journal.unread_mutations if self.journal is not None else 0)

    @property
    def in_memory(self) -> int:
        return self._memory

    @property
    def memory_only(self) -> int:
        """Mutations that exist nowhere but in this process's memory."""
        return self._native

    @property
    def spilling(self) -> bool:
        return self.journal is not None and self.journal.has_unread

    def append(self, entries: list, arrived: float, *, spill: bool = False) -> None:
        """Queue a batch: in memory, or at the end of the journal when it holds
        unread batches, when memory would pass its limit, or when `spill` says so.
        Raises JournalFull (nothing queued) when the journal has no room for it."""
        journal = self.journal
        n = len(entries)
        if journal is not None and (spill or journal.has_unread or self._memory + n > self.limit):
            self.spill()
            journal.append(entries)
            self.spilled += n
        else:
            self._batches.append([entries, 0, arrived, None])
            self._memory += n
            self._native += n
            if self._memory > self.limit:
                self.over_limit += 1
        self.peak = max(self.peak, len(self))

    def spill(self) -> int:
        """Move every batch that is only in memory to the end of the journal, in one
        append (all or nothing). Returns how many mutations moved."""
        if not self._native or self.journal is None:
            return 0
        native = [b for b in self._batches if b[3] is None]
        entries = [e for b in native for e in b[0][b[1]:]]
        self.journal.append(entries)
        # Native batches are the tail of memory: what is left is loaded from the journal.
        for _ in native:
            self._batches.pop()
        self._memory -= len(entries)
        self._native = 0
        self.spilled += len(entries)
        self.spills += 1
        return len(entries)

    def oldest(self) -> float:
        if self._batches:
            return self._batches[0][2]
        return 0.0  # unread journal batches have waited long enough

    def oldest_native(self) -> float | None:
        for batch in self._batches:
            if batch[3] is None:
                return batch[2]
        return None

    def _load(self) -> bool:
        """Read the next journal record into memory; False when there is none."""
        if self.journal is None:
            return False
        record = self.journal.read()
        if record is None:
            return False
        entries, position = record
        self._batches.append([entries, 0, 0.0, position])
        self._memory += len(entries)
        self.loaded += len(entries)
        return True

    def peek(self, n: int) -> list:
        """The first `n` (or fewer) mutations. A chunk never mixes batches from the
        journal with batches only in memory: the journal's segments are deleted as
        its last batch is acknowledged, before any later batch is written, so a
        replay after a crash never puts back a version older than one the
        database has."""
        chunk: list = []
        while self._memory < n and self.spilling and self._load():
            pass
        journaled = None
        for entries, offset, _arrived, position in self._batches:
            if journaled is not None and journaled != (position is not None):
                break
            journaled = position is not None
            chunk.extend(entries[offset:offset + n - len(chunk)])
            if len(chunk) >= n:
                break
        return chunk

    def ack(self, n: int) -> None:
        batches = self._batches
        while n:
            if not batches and not self._load():
                raise RuntimeError("acknowledged more mutations than the backlog holds")
            head = batches[0]
            left = len(head[0]) - head[1]
            taken = min(n, left)
            self._memory -= taken
            if head[3] is None:
                self._native -= taken
            n -= taken
            if taken < left:
                head[1] += taken
                return
            batches.popleft()
            if head[3] is not None:
                self.journal.release(head[3])


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

    def pressure(self, now: float) -> None:
        """The live stream is dense (see MongoStore.pressure); nothing to hold here."""

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

    `start()` connects, checks the server, creates the indexes and opens the spill
    journal (`journal_dir`; None: memory only), whose batches left by an earlier run
    are written first; `write()` queues; `flush()` waits for the database to
    acknowledge what was queued; `close()` flushes and stops.

    The live stream first: `write()` only appends the batch to an inbox. The writer
    thread encodes the inbox to BSON into the backlog and sends the backlog to the
    database. `pressure()` (the recorder: the kernel's stream is dense) holds both
    back until it has not been called for `hold_calm` seconds, so that the live
    thread has the interpreter (the GIL) and the CPUs to itself while a storm lasts;
    then the backlog goes to the database in order, the journal's part first. While
    held, the inbox waits in memory; past `max_queued` mutations the writer encodes
    its oldest into the journal all the same (memory stays bounded; at twice that,
    the writer being stuck, write() does it itself), and with more than
    `journal_hold_bytes` in the journal it sends again (the database has to catch
    up some time, or the journal fills).

    Spilling: an encoded batch goes to the journal instead of memory when `max_queued`
    mutations are in memory, or when one has waited `spill_after` seconds (the
    database is slow or down: a SIGKILL then loses at most that much; while held,
    what waits in the inbox is not encoded for this). A journal at
    `journal_max_bytes` makes `write()` wait for room: backpressure on the live
    loop, whose cost is the kernel's `lost` counter, never a silent drop; after
    `interrupt()` (godo is stopping) a batch that finds no room is counted as dropped.

    `close()` waits while the database makes progress. When it makes none for
    `spill_after`, what is only in memory goes to the journal, for the next start,
    and close returns; without a journal it waits `stall_timeout`, then counts what
    remains as dropped and raises StoreError.
    """

    def __init__(self, uri: str, database: str = DEFAULT_DATABASE, *, host: str | None = None,
                 batch_size: int = 1000, flush_interval: float = 1.0, timeout: float = 5.0,
                 max_queued: int = 100_000, stall_timeout: float = 30.0,
                 journal_dir: str | os.PathLike | None = None, journal_max_bytes: int = 1 << 30,
                 spill_after: float = 2.0, fsync_interval: float | None = 1.0,
                 hold_calm: float = 0.5, journal_hold_bytes: int | None = None):
        super().__init__(host)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.uri = uri
        self.database_name = database
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.journal_dir = Path(journal_dir) if journal_dir is not None else None
        self.journal_max_bytes = journal_max_bytes
        self.spill_after = spill_after
        self.fsync_interval = fsync_interval
        self.max_queued = max_queued
        # Unencoded mutations past which write() encodes them itself, unless held.
        self._inbox_help = max(4 * batch_size, 10_000)
        self.hold_calm = hold_calm
        self.journal_hold_bytes = (journal_max_bytes // 2 if journal_hold_bytes is None
                                   else journal_hold_bytes)
        self._round_trips = _RoundTrips()
        self._client: pymongo.MongoClient | None = None
        self._db = None
        self._insert_first = False
        self._max_update_statements: int | None = None
        self._thread: threading.Thread | None = None
        self._spiller: threading.Thread | None = None
        self._cond = threading.Condition()
        # Batches handed to write(), not yet encoded: [mutations, arrived], oldest first.
        self._inbox: deque = deque()
        self._inbox_count = 0
        self._backlog = _Backlog(max_queued)
        self._journal_lock: int | None = None
        self._closing = self._abandon = self._closed = self._interrupted = False
        self._flushing = 0
        # Counters below change under self._cond.
        self._submitted = 0     # mutations handed to write()
        self._accepted = 0      # mutations queued: write()'s, and those found in the journal
        self._done = 0          # queued mutations acknowledged, or refused for good
        self._recovered = 0     # found in the journal at start
        self._dropped = 0       # given up: neither written nor journaled
        self._written: dict[str, int] = {}
        self._bulk_calls = self._errors = self._rejected = self._coalesced = 0
        self._backpressure_waits = 0
        self._backpressure_seconds = 0.0
        self._journal_errors = 0
        self._last_error: str | None = None
        self._last_progress = time.monotonic()
        self._retry_at = 0.0            # no write to the database before (backoff)
        self._move_retry_at = 0.0       # no move into a full journal before
        self._no_room = False           # the last move found the journal full
        self._room_error = ""
        # Holding back for the live stream: set by the live thread alone, read by
        # the others (plain floats: no lock on the live thread's way).
        self._hold_until = 0.0
        self._hold_began = 0.0
        self._holds = 0
        self._held_seconds = 0.0        # of holds that are over
        self._forced = 0                # mutations encoded into the journal while held


    def __repr__(self) -> str:
        return f"MongoStore({redact(self.uri)!r}, {self.database_name!r})"

    @property
    def db(self):
        return self._db

    @property
    def journal(self) -> Journal | None:
        return self._backlog.journal

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
        if self.journal_dir is not None:
            try:
                self._open_journal()
            except BaseException:
                client.close()
                raise
        self._client = client
        self._last_progress = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="godo-store-writer", daemon=True)
        self._thread.start()
        if self.journal is not None:
            self._spiller = threading.Thread(target=self._watch, name="godo-store-spill", daemon=True)
            self._spiller.start()

    def _open_journal(self) -> None:
        """The journal directory for this database: the first that no other godo
        holds, preferring one an earlier run left batches in."""
        chosen = None
        for path in _journal_candidates(self.journal_dir):
            lock = _try_lock(path)
            if lock is None:
                continue
            if any(name.endswith(".seg") for name in os.listdir(path)):
                if chosen is not None:
                    os.close(chosen[1])
                chosen = (path, lock)
                break
            if chosen is None:
                chosen = (path, lock)
            else:
                os.close(lock)
        if chosen is None:
            raise StoreError(f"every journal directory beside {self.journal_dir} is in use "
                             "by another godo")
        path, lock = chosen
        try:
            journal = Journal(path, max_bytes=self.journal_max_bytes,
                              fsync_interval=self.fsync_interval)
        except (JournalError, OSError) as exc:
            os.close(lock)
            raise StoreError(f"cannot use the spill journal: {exc}") from None
        self._journal_lock = lock
        self._backlog.journal = journal
        self._recovered = self._accepted = journal.found_mutations

    def _plan_for(self, build_info: dict) -> None:
        ferretdb = build_info.get("ferretdbVersion")
        if isinstance(ferretdb, str) and ferretdb.lstrip("v").split(".")[0] == "1":
            self._insert_first = True
            # Under the 100 pooled connections one update command may hold, with
            # room for a second writer and for readers on the same database.
            self._max_update_statements = 40

    # -- the live thread's side ----------------------------------------------------------------

    def write(self, mutations: list[Mutation]) -> None:
        """Queue a batch of mutations. It joins the inbox as it is, to be encoded on
        the writer thread; write() never waits for the database. Only with twice
        `max_queued` mutations waiting to be encoded (the writer is stuck) does it
        encode the oldest itself, into the journal, and then, with the journal full,
        it waits for room. A document BSON cannot hold is refused when it is
        encoded, and counted. The caller must not change a document once it has
        handed it over."""
        if not mutations:
            return
        mutations = self._checked(mutations)
        n = len(mutations)
        with self._cond:
            if self._closing:
                raise RuntimeError("write to a closed store")
            self._submitted += n
            before = self._inbox_count
            if self._over_bound() and not self._make_room(n):
                return
            now = time.monotonic()
            self._inbox.append((mutations, now))
            self._inbox_count = after = self._inbox_count + n
            self._accepted += n
            if after >= self._inbox_help and not self._held(now):
                # The writer is stuck in a slow database call and the stream is calm:
                # encode here, so that what waits is compact BSON (in memory up to
                # max_queued, then in the journal), not live documents, several
                # times its size. A replay into a slow database waits this way too.
                if self._move(now):
                    return
            # Wake the writer only when it has something new to decide: a first
            # batch (its flush deadline), a batch's worth, the bound.
            if not before or before < self.batch_size <= after or before < self.max_queued <= after:
                self._cond.notify_all()

    def _over_bound(self) -> bool:
        """The inbox is at twice its bound (the writer is stuck), or at its bound
        with the journal full: write() makes room itself before it queues more."""
        count = self._inbox_count
        return count >= 2 * self.max_queued or (self._no_room and count >= self.max_queued)

    def _make_room(self, n: int) -> bool:
        """Encode the inbox's oldest batches into the journal here (under the lock),
        down to the bound, waiting while the journal has no room; after `interrupt()`
        give the batch up, counted as dropped. Whether the batch may be queued."""
        waited_since = None
        try:
            while self._over_bound():
                now = time.monotonic()
                if self._move(now, spill=True, limit=self._inbox_count - self.max_queued + 1):
                    continue
                if self._interrupted or self._abandon:
                    self._dropped += n
                    self._last_error = f"{n} writes dropped: {self._room_error}"
                    return False
                if waited_since is None:
                    waited_since = now
                    self._backpressure_waits += 1
                self._cond.notify_all()
                self._cond.wait(0.2)
            return True
        finally:
            if waited_since is not None:
                self._backpressure_seconds += time.monotonic() - waited_since

    def pressure(self, now: float) -> None:
        """The live stream is dense: hold encoding and database writes back until
        `hold_calm` seconds after the last call (`now` is time.monotonic()). Called
        from the live thread as often as it likes: it takes no lock."""
        if now >= self._hold_until:
            if self._holds:
                self._held_seconds += self._hold_until - self._hold_began
            self._holds += 1
            self._hold_began = now
        self._hold_until = now + self.hold_calm

    def _held(self, now: float) -> bool:
        return now < self._hold_until and not self._closing and not self._flushing

    def _encode(self, mutations: list) -> tuple[list, list[str]]:
        entries, refused = [], []
        encode = bson.encode
        for name, doc in mutations:
            _id = doc["_id"]
            try:
                raw = encode(doc)
            except (InvalidDocument, TypeError, OverflowError, ValueError) as exc:
                refused.append(f"{name} {_id!r}: {exc}")
                continue
            if len(raw) > _MAX_DOCUMENT:
                refused.append(f"{name} {_id!r}: {len(raw)} bytes is over the 16 MiB document limit")
                continue
            entries.append((name, _id, _key(_id), raw))
        return entries, refused

    def _move(self, now: float, *, spill: bool = False, limit: int | None = None) -> bool:
        """Encode whole batches from the head of the inbox, about `limit` mutations
        (all without a limit), into the backlog as one batch (under the lock); into
        the journal when `spill`, or when what waits in memory has waited
        `spill_after`. False, with the batches left in the inbox, when the journal
        has no room (or failed)."""
        inbox = self._inbox
        taken: list = []
        count = 0
        while inbox and (limit is None or count < limit):
            batch = inbox.popleft()
            taken.append(batch)
            count += len(batch[0])
        if not taken:
            return True
        entries, refused = self._encode([m for batch, _arrived in taken for m in batch])
        backlog = self._backlog
        over = backlog.over_limit
        if entries:
            try:
                backlog.append(entries, taken[0][1], spill=spill or self._stale(now))
            except (JournalFull, OSError) as exc:
                inbox.extendleft(reversed(taken))
                if isinstance(exc, OSError):
                    self._journal_errors += 1
                self._room_error = str(exc)
                if not self._no_room:
                    self._no_room = True
                    self._last_error = f"{exc}: waiting for the database to take writes"
                return False
        self._no_room = False
        self._inbox_count -= count
        if self._held(now):
            self._forced += count
        if refused:
            # Refused for good: done with, as a refusal by the database would be.
            self._rejected += len(refused)
            self._done += len(refused)
            self._last_error = refused[-1]
        if backlog.over_limit and not over:
            self._last_error = (f"the database is behind: {backlog.in_memory} mutations "
                                "queued in memory")
        self._cond.notify_all()
        return True

    def _stale(self, now: float) -> bool:
        """Whether a mutation has waited in memory only for `spill_after` seconds."""
        oldest = self._backlog.oldest_native()
        return oldest is not None and now - oldest >= self.spill_after

    def interrupt(self) -> None:
        """Stop making writes wait for room in a full journal (godo is stopping)."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the database has acknowledged every mutation queued so far
        (the journal's from earlier runs included); False if `timeout` seconds
        passed first."""
        return self._wait_acknowledged(timeout, None)

    def settle(self, idle: float = 5.0) -> bool:
        """Like `flush`, but gives up (False) once the database has answered no
        command for `idle` seconds, however long it keeps making progress."""
        return self._wait_acknowledged(None, idle)

    def _wait_acknowledged(self, timeout: float | None, idle: float | None) -> bool:
        if self._thread is None:
            raise RuntimeError("the store is not started")
        with self._cond:
            target = self._accepted
            self._flushing += 1
            self._cond.notify_all()
            progress = lambda: (self._done, self._round_trips.succeeded_count)  # noqa: E731
            now = time.monotonic()
            deadline = None if timeout is None else now + timeout
            last, since = progress(), now
            try:
                while self._done < target and not self._abandon:
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return False
                    self._cond.wait(0.1 if deadline is None else min(0.1, deadline - now))
                    if progress() != last:
                        last, since = progress(), time.monotonic()
                    elif idle is not None and time.monotonic() - since > idle:
                        return False
                return self._done >= target
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Flush and stop; see the class. Raises StoreError when mutations were
        neither written nor journaled."""
        if self._closed or self._thread is None:
            self._closed = True
            return
        self._closed = True
        journal = self.journal
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            # Progress is any command answered, not only a whole chunk: one chunk can
            # take minutes on a slow server.
            progress = lambda: (self._done, self._round_trips.succeeded_count)  # noqa: E731
            last, last_progress = progress(), time.monotonic()
            while self._done < self._accepted:
                self._cond.wait(0.1)
                now = time.monotonic()
                if progress() != last:
                    last, last_progress = progress(), now
                    continue
                if journal is not None and now - last_progress > self.spill_after:
                    try:
                        if not self._move(now, spill=True):
                            raise JournalFull(self._room_error)
                        self._backlog.spill()
                    except (JournalFull, OSError) as exc:
                        self._journal_errors += 1
                        self._last_error = f"the spill journal has no room for the rest: {exc}"
                    else:
                        break
                if now - last_progress > self.stall_timeout:
                    break
            self._abandon = True
            self._cond.notify_all()
            unsaved = self._backlog.memory_only + self._inbox_count
            self._dropped += unsaved
            last_error = self._last_error
        self._thread.join(self.timeout + 5.0)
        if self._spiller is not None:
            self._spiller.join(5.0)
        self._client.close()
        with self._cond:
            if journal is not None:
                try:
                    journal.close()
                finally:
                    if self._journal_lock is not None:
                        os.close(self._journal_lock)
                        self._journal_lock = None
        if unsaved:
            raise StoreError(f"{unsaved} document writes were not saved: the database at "
                             f"{redact(self.uri)} stopped taking them ({last_error})")

    @property
    def journaled(self) -> int:
        """Mutations waiting in the journal (after close: left for the next start)."""
        journal = self.journal
        if journal is None:
            return 0
        with self._cond:
            return journal.unread_mutations + self._backlog.in_memory - self._backlog.memory_only

    def stats(self) -> dict:
        trips = self._round_trips
        now = time.monotonic()
        with self._cond:
            backlog = self._backlog
            journal = backlog.journal
            inbox = self._inbox_count
            pending = len(backlog) + inbox
            held = self._held_seconds
            if self._holds:
                held += min(now, self._hold_until) - self._hold_began
            return {
                "store": "mongo", "submitted": self._submitted,
                "written": sum(self._written.values()), "collections": dict(self._written),
                "queued": self._accepted - self._done, "pending": pending, "inbox": inbox,
                "in_memory": backlog.in_memory + inbox, "memory_only": backlog.memory_only + inbox,
                "bulk_calls": self._bulk_calls,
                "round_trips": trips.count, "errors": self._errors, "rejected": self._rejected,
                "coalesced": self._coalesced, "last_error": self._last_error,
                "backlog_peak": backlog.peak, "over_limit": backlog.over_limit,
                "recovered": self._recovered, "spilled": backlog.spilled, "spills": backlog.spills,
                "replayed": backlog.loaded, "dropped": self._dropped,
                # Queued and neither acknowledged, nor waiting, nor given up as dropped:
                # 0 unless the backlog lost something. Counted two ways on purpose.
                "unaccounted": self._accepted - self._done - pending,
                "backpressure_waits": self._backpressure_waits,
                "backpressure_seconds": round(self._backpressure_seconds, 3),
                "held": {"times": self._holds, "seconds": round(held, 3), "forced": self._forced},
                "journal_errors": self._journal_errors,
                "journal": journal.stats() if journal is not None else None,
            }

    # -- the writer thread ---------------------------------------------------------------------

    def _next(self) -> str | None:
        """What the writer does next, once it is due (waits under the lock until
        then): "move" inbox batches into the backlog, "send" the backlog's head to
        the database, or None: stop."""
        while True:
            if self._abandon:
                return None
            now = time.monotonic()
            held = self._held(now)
            waits = []
            inbox, backlog = self._inbox, self._backlog
            if inbox:
                if held and self._inbox_count < self.max_queued:
                    pass        # waits in memory until the stream calms down
                elif (held or self._closing or self._flushing or self._no_room
                      or self._inbox_count >= min(self.batch_size, self.max_queued)
                      or now - inbox[0][1] >= self.flush_interval):
                    if now >= self._move_retry_at:
                        return "move"
                    waits.append(self._move_retry_at - now)
                else:
                    waits.append(inbox[0][1] + self.flush_interval - now)
            if backlog and (not held or self._journal_heavy()):
                if now < self._retry_at:
                    waits.append(self._retry_at - now)
                elif (self._closing or self._flushing or len(backlog) >= self.batch_size
                      or now - backlog.oldest() >= self.flush_interval):
                    return "send"
                else:
                    waits.append(backlog.oldest() + self.flush_interval - now)
            elif self._closing and not inbox and not backlog:
                return None
            if held:
                waits.append(self._hold_until - now)
            self._cond.wait(max(0.0, min(waits)) if waits else None)

    def _journal_heavy(self) -> bool:
        """Past this much in the journal the database gets writes even while held."""
        journal = self._backlog.journal
        return journal is not None and journal.size >= self.journal_hold_bytes

    def _run(self) -> None:
        _name_thread("godo-store-writer")
        backoff = 0.0
        while True:
            with self._cond:
                action = self._next()
                if action is None:
                    return
                if action == "move":
                    now = time.monotonic()
                    held = self._held(now)
                    # A slice at a time, the lock let go in between: write() gets in.
                    if not self._move(now, spill=held, limit=256 if held else self.batch_size):
                        self._move_retry_at = now + 0.2
                    continue
                try:
                    chunk = self._backlog.peek(self.batch_size)
                except OSError as exc:
                    chunk, reason = None, f"reading the spill journal failed: {exc}"
            if chunk is not None:
                try:
                    written, rejected = self._write_chunk(chunk)
                except _Retry as exc:
                    reason = str(exc)
                except Exception as exc:  # noqa: BLE001 - a bug must not stop the writer
                    reason = f"{type(exc).__name__}: {_reason(exc, self.uri)}"
                else:
                    backoff = 0.0
                    with self._cond:
                        if self._abandon:
                            return
                        self._backlog.ack(len(chunk))
                        self._done += len(chunk)
                        self._last_progress = time.monotonic()
                        self._move_retry_at = 0.0       # the journal may have room again
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
                # Only moves go on meanwhile; new writes do not cut the backoff short.
                self._retry_at = time.monotonic() + backoff

    def _watch(self) -> None:
        """Journal what has waited `spill_after` in memory, even when no write comes
        to do it and the writer is stuck in a call to a database that does not
        answer: encoded batches, and the inbox unless the live stream holds it back."""
        _name_thread("godo-store-spill")
        with self._cond:
            while not self._abandon:
                self._cond.wait(max(0.05, self.spill_after / 4))
                if self._abandon:
                    return
                now = time.monotonic()
                if (self._inbox and not self._held(now) and now >= self._move_retry_at
                        and now - self._inbox[0][1] >= self.spill_after):
                    self._move(now, spill=True)
                if self._stale(now):
                    try:
                        self._backlog.spill()
                    except (JournalFull, OSError) as exc:
                        self._journal_errors += 1
                        self._last_error = f"the spill journal failed: {exc}"

    def _write_chunk(self, chunk: list) -> tuple[dict[str, int], list[str]]:
        """Write one chunk; returns documents written per collection and the reasons
        for documents the database refused for good. Raises _Retry otherwise."""
        groups: dict[str, dict] = {}
        for name, _id, key, raw in chunk:
            # The last version of a document within the chunk is the one to write.
            groups.setdefault(name, {})[key] = (_id, raw)
        written: dict[str, int] = {}
        rejected: list[str] = []
        for name, by_id in groups.items():
            docs = list(by_id.values())
            refused = self._write_collection(self._db[name], docs)
            rejected.extend(refused)
            written[name] = len(docs) - len(refused)
        return written, rejected

    def _write_collection(self, coll, docs: list) -> list[str]:
        if self._insert_first:
            return self._insert_then_replace(coll, docs)
        return self._replace(coll, docs)

    def _bulk(self, coll, docs: list, insert: bool) -> list[dict]:
        """One bulk call; returns the write errors for single documents."""
        with self._cond:
            self._bulk_calls += 1
        try:
            if insert:
                coll.insert_many([RawBSONDocument(raw) for _id, raw in docs], ordered=False)
            else:
                coll.bulk_write([ReplaceOne({"_id": _id}, RawBSONDocument(raw), upsert=True)
                                 for _id, raw in docs], ordered=False)
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
        return [f"{coll.name} {docs[e['index']][0]!r}: {e.get('errmsg')} (code {e.get('code')})"
                for e in errors]


def _name_thread(name: str) -> None:
    """Give the calling thread its name in the OS too (`top -H`, /proc/PID/task/TID/comm),
    so that where godo's CPU goes can be seen thread by thread."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _journal_candidates(base: Path) -> list[Path]:
    return [base] + [base.with_name(f"{base.name}.{i}") for i in range(2, 9)]


def _try_lock(path: Path) -> int | None:
    """An flock on `path/lock` (the directory made 0700), or None if another holds it."""
    private_dir(path.parent)
    private_dir(path)
    try:
        fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot use the spill journal {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def journal_dir_for(data_dir: str | os.PathLike, uri: str | None, database: str) -> Path:
    """Where the spill journal for one database lives: a batch journaled for one
    database is never replayed into another. The name holds no credentials."""
    if uri is None:
        target = f"embedded/{database}"
    else:
        netloc = urllib.parse.urlsplit(uri).netloc if "://" in uri else uri
        target = f"{netloc.rpartition('@')[2]}/{database}"
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    return Path(data_dir) / "journal" / digest


_key = key_of
_MAX_DOCUMENT = 16 * 1024 * 1024


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
    options.setdefault("journal_dir", journal_dir_for(data_dir, uri, database))
    with ExitStack() as stack:
        server_pids: tuple[int, ...] = ()
        if uri is None:
            from .ferret import connect_or_start
            ferret = stack.enter_context(connect_or_start(Path(data_dir)))
            uri, server_pids = ferret.uri, (ferret.pid,)
        store = MongoStore(uri, database, host=host, **options)
        store.server_pids = server_pids
        stack.callback(_say_what_is_left, store)
        # Entered last, so it is closed (flushed) before the server stops.
        stack.enter_context(store)
        yield store


def _say_what_is_left(store: MongoStore) -> None:
    left = store.journaled
    if left and store.journal is not None:
        print(f"godo: the database did not take {left} document writes before godo stopped; "
              f"they are in the journal {store.journal.dir} and go in at the next start",
              file=sys.stderr)


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
