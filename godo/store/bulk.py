"""One chunk of mutations into the database, in as few bulk calls as the server
allows, and which failures are worth a retry.

A document is inserted the first time this writer sends it, and replaced by `_id`
after that: an insert costs the server a fraction of an update (on the embedded
FerretDB 80-140 µs a document against 300-500 for a replace and 1,000-1,500 for a
`$set` of three fields: `benchmarks/store_cost.py`), and most documents (a closed
file, a process seen from start to exit) are written once. So each collection's
part of a chunk is:
  - the documents not sent before: one unordered `insert_many`. A duplicate key
    means the document is there already (a batch retried after its answer was
    lost, a journal replayed after a crash, a document written by an earlier run
    or forgotten here): it counts as written, and the document is replaced by
    `_id` with this, its latest version, so that a batch written twice leaves one
    document, as written last;
  - the documents sent before (the last `remember` `_id`s are kept): replaced by
    `_id` (`ReplaceOne(upsert=True)`), whole: a `$set` of what changed costs
    FerretDB more than the whole document, and MongoDB as much.
The same calls on MongoDB and FerretDB; only FerretDB 1.x's update command needs a
cap (measured on v1.24.2): an `update` whose statements match more than ~100
existing documents never returns (each matched statement keeps a pooled SQLite
connection until the command ends, and the pool has 100), so there replaces go in
commands of at most 40 statements.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from bson.raw_bson import RawBSONDocument
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure

from .client import reason

# Server error codes after which the same write can succeed: network and failover
# states, time limits, write conflicts, and a duplicate key from two upserts racing.
RETRYABLE_CODES = {
    "HostUnreachable": 6, "HostNotFound": 7, "MaxTimeMSExpired": 50, "WriteConcernFailed": 64,
    "NetworkTimeout": 89, "ShutdownInProgress": 91, "WriteConflict": 112,
    "PrimarySteppedDown": 189, "ExceededTimeLimit": 262, "SocketException": 9001,
    "NotWritablePrimary": 10107, "DuplicateKey": 11000, "InterruptedAtShutdown": 11600,
    "InterruptedDueToReplStateChange": 11602, "NotPrimaryNoSecondaryOk": 13435,
    "NotPrimaryOrSecondary": 13436,
}
_RETRYABLE = frozenset(RETRYABLE_CODES.values())
_DUPLICATE_KEY = RETRYABLE_CODES["DuplicateKey"]
# Under the 100 pooled connections one FerretDB update command may hold, with room
# for a second writer and for readers on the same database.
_FERRETDB_UPDATE_STATEMENTS = 40
# `_id`s remembered as stored, per writer: about 10 MB at most. Past it the oldest
# are forgotten; such a document written again goes in by the duplicate key path.
_REMEMBER = 50_000


class Retry(Exception):
    """The chunk failed in a way that a later attempt can fix."""


class BulkWriter:
    """Writes chunks of `(collection, _id, key, BSON)` entries to one database."""

    def __init__(self, db, uri: str, build_info: dict, remember: int = _REMEMBER):
        self.db = db
        self.uri = uri
        self.calls = 0
        # Documents found there already when inserted (duplicate keys), then replaced.
        self.duplicates = 0
        self._lock = threading.Lock()
        ferretdb = build_info.get("ferretdbVersion")
        ferretdb_1 = isinstance(ferretdb, str) and ferretdb.lstrip("v").split(".")[0] == "1"
        self.max_update_statements = _FERRETDB_UPDATE_STATEMENTS if ferretdb_1 else None
        self.remember = remember
        # (collection, key) of the documents this writer stored, oldest first.
        self._stored: OrderedDict = OrderedDict()

    def write_chunk(self, chunk: list) -> tuple[dict[str, int], list[str]]:
        """Write one chunk; returns documents written per collection and the reasons
        for documents the database refused for good. Raises Retry otherwise."""
        groups: dict[str, dict] = {}
        for name, _id, key, raw in chunk:
            # The last version of a document within the chunk is the one to write.
            groups.setdefault(name, {})[key] = (_id, raw)
        written: dict[str, int] = {}
        rejected: list[str] = []
        stored = self._stored
        for name, by_id in groups.items():
            new, again = [], []
            for key, doc in by_id.items():
                (again if (name, key) in stored else new).append(doc)
            coll = self.db[name]
            refused = self._insert(coll, new) if new else []
            if again:
                refused += self._replace(coll, again)
            rejected.extend(refused)
            written[name] = len(by_id) - len(refused)
        # Remembered once the whole chunk is in: a retried chunk inserts again.
        for name, by_id in groups.items():
            for key in by_id:
                stored[name, key] = None
                stored.move_to_end((name, key))
        while len(stored) > self.remember:
            stored.popitem(last=False)
        return written, rejected

    def _bulk(self, coll, docs: list, insert: bool) -> list[dict]:
        """One bulk call; returns the write errors for single documents."""
        with self._lock:
            self.calls += 1
        try:
            if insert:
                coll.insert_many([RawBSONDocument(raw) for _id, raw in docs], ordered=False)
            else:
                coll.bulk_write([ReplaceOne({"_id": _id}, RawBSONDocument(raw), upsert=True)
                                 for _id, raw in docs], ordered=False)
        except BulkWriteError as exc:
            details = exc.details or {}
            if details.get("writeConcernErrors"):
                raise Retry(f"{coll.name}: write concern error: "
                             f"{details['writeConcernErrors'][0].get('errmsg')}") from None
            return list(details.get("writeErrors") or ())
        except (ConnectionFailure, OperationFailure) as exc:
            raise Retry(f"{coll.name}: {reason(exc, self.uri)}") from None
        return []

    def _replace(self, coll, docs: list) -> list[str]:
        step = self.max_update_statements or len(docs)
        rejected: list[str] = []
        for start in range(0, len(docs), step):
            part = docs[start:start + step]
            rejected += self._refused(coll, part, self._bulk(coll, part, insert=False))
        return rejected

    def _insert(self, coll, docs: list) -> list[str]:
        errors = self._bulk(coll, docs, insert=True)
        existing = [docs[e["index"]] for e in errors if e.get("code") == _DUPLICATE_KEY]
        rejected = self._refused(coll, docs, [e for e in errors if e.get("code") != _DUPLICATE_KEY])
        if existing:
            with self._lock:
                self.duplicates += len(existing)
            rejected += self._replace(coll, existing)
        return rejected

    def _refused(self, coll, docs: list, errors: list[dict]) -> list[str]:
        """Reasons for the documents refused for good; Retry if any may succeed later."""
        retry = [e for e in errors if e.get("code") in _RETRYABLE]
        if retry:
            raise Retry(f"{coll.name}: {retry[0].get('errmsg')} (code {retry[0].get('code')})")
        return [f"{coll.name} {docs[e['index']][0]!r}: {e.get('errmsg')} (code {e.get('code')})"
                for e in errors]
