"""Retention: removing whole runs, by `godo prune` or by the recording daemon.

A run is removed with every document that names it (its processes, files and
containers), never a document at a time: a TTL index would expire a long-lived
process's document by its start while its files stay, leave a run's document
without its processes, and FerretDB v1.24 (the embedded store) refuses the index
(createIndexes: `Index option "expireAfterSeconds" is not implemented yet`), where a
prune by run works alike on FerretDB and MongoDB.

A run still `running` is never removed: its godo is writing it.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..errors import GodoError
from .queries import delete_runs

PRUNE_EVERY = 3600.0  # seconds between the daemon's prunes

# A run document as it should be judged now (status.as_seen_now: a run whose godo
# died is `interrupted`, not `running`).
SeenNow = Callable[[dict], dict]


def expired_runs(db, before: datetime, seen_now: SeenNow = lambda run: run) -> list[str]:
    """The runs that ended before `before` (one that never ended: started before
    it, and is no longer running)."""
    ids = [run["_id"] for run in db.runs.find({"ended": {"$lt": before}}, {"_id": 1})]
    for run in db.runs.find({"ended": None, "started": {"$lt": before}}):
        if seen_now(run).get("status") != "running":
            ids.append(run["_id"])
    return ids


def refuse_running(db, ids: list[str], seen_now: SeenNow) -> None:
    for rid in ids:
        run = db.runs.find_one({"_id": rid})
        if run is not None and seen_now(run).get("status") == "running":
            raise GodoError(f"run {rid} is running: it cannot be pruned while its godo records it")


def prune_older(db, keep: timedelta, seen_now: SeenNow = lambda run: run,
                now: datetime | None = None) -> dict[str, int]:
    """Remove the runs that ended more than `keep` ago; the counts removed."""
    now = now or datetime.now(timezone.utc)
    return delete_runs(db, expired_runs(db, now - keep, seen_now))


class Retention(threading.Thread):
    """The daemon's prune: once at start, then every PRUNE_EVERY seconds, with a
    database connection of its own. A failed prune is said on stderr and tried
    again at the next turn; it never stops the recording."""

    def __init__(self, uri: str, database: str, keep: timedelta, seen_now: SeenNow,
                 every: float = PRUNE_EVERY):
        super().__init__(name="godo-retention", daemon=True)
        self.uri, self.database, self.keep, self.seen_now = uri, database, keep, seen_now
        self.every = every
        self.removed = dict.fromkeys(("processes", "files", "containers", "runs"), 0)
        self.failures = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        from pymongo.errors import PyMongoError

        from .client import client
        conn = client(self.uri, 10.0)
        try:
            while True:
                try:
                    counts = prune_older(conn[self.database], self.keep, self.seen_now)
                except PyMongoError as exc:
                    self.failures += 1
                    print(f"godo: retention: pruning failed ({exc}); trying again in "
                          f"{self.every:.0f}s", file=sys.stderr, flush=True)
                else:
                    for name, n in counts.items():
                        self.removed[name] += n
                    if counts["runs"]:
                        print(f"godo: retention: {said(counts)} (ended more than "
                              f"{_age(self.keep)} ago)", file=sys.stderr, flush=True)
                if self._stopping.wait(self.every):
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


def said(counts: dict[str, int]) -> str:
    """What a prune removed: `removed 2 runs: 31 processes, 240 files, 1 containers`."""
    return f"removed {counts['runs']} runs: " + ", ".join(
        f"{counts[name]} {name}" for name in ("processes", "files", "containers"))


def _age(keep: timedelta) -> str:
    days = keep / timedelta(days=1)
    return f"{days:g}d" if days >= 1 else f"{keep.total_seconds() / 3600:g}h"
