"""What a store is to the rest of godo (the `Store` protocol, in protocol.py, for
type checkers), and the store that keeps nothing (`NullStore`, `--store null`: the
whole pipeline, no database).

A mutation is `(collection, document)`, where the document is a dict, or a
`Source` of one: the tracker hands over its process, open file or container
objects, and a store makes their documents when it encodes them (`document()`),
off the live thread; one that keeps nothing never makes them. Every document
carries `_id` and `host` (the store adds its host to a dict that has none), and
every write replaces the whole document by `_id`, so a batch written twice leaves
the database as written once.
"""

from __future__ import annotations

import _thread  # threading's Lock, without threading's import (start-up)
from collections import Counter
from operator import itemgetter

from ..paths import hostname

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from .protocol import Source


Mutation = tuple[str, "dict | Source"]  # Source: protocol.py
_name, _doc = itemgetter(0), itemgetter(1)


def document_of(doc: dict | Source) -> dict:
    return doc if type(doc) is dict else doc.document()


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
        """The batch, its dicts checked for an `_id` and given a `host` (a Source's
        documents always carry both)."""
        mutations = list(mutations)
        # The tracker's batches are its Sources alone: told so in C, not one by one.
        if dict not in set(map(type, map(_doc, mutations))):
            return mutations
        host = self.host
        for name, doc in mutations:
            if type(doc) is not dict:
                continue
            if "_id" not in doc:
                raise ValueError(f"a {name} document without _id: {sorted(doc)[:8]}")
            if "host" not in doc:
                doc["host"] = host
        return mutations


class NullStore(_Store):
    """Discards every mutation and counts it: the pipeline without a database."""

    def __init__(self, host: str | None = None):
        super().__init__(host)
        self._counts: Counter = Counter()
        self._lock = _thread.allocate_lock()

    def write(self, mutations: list[Mutation], *, dense: bool = False) -> None:
        names = list(map(_name, self._checked(mutations)))
        with self._lock:
            # A batch names a few collections: each one's mutations counted in C.
            for name in set(names):
                self._counts[name] += names.count(name)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def settle(self, idle: float = 5.0, timeout: float | None = None) -> bool:
        return True

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass

    def stats(self) -> dict:
        with self._lock:
            counts = dict(self._counts)
        total = sum(counts.values())
        return {"store": "null", "submitted": total, "written": total, "collections": counts,
                "queued": 0, "bulk_calls": 0, "round_trips": 0, "errors": 0, "rejected": 0,
                "coalesced": 0, "last_error": None, "backlog_peak": 0, "over_limit": 0}
