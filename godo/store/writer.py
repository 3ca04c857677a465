"""The store writer: document mutations into MongoDB, in bulk, on its own thread.

The live thread (the tracker) hands `write()` a batch and returns at once: the
batch joins an inbox as it is, with no encoding and no database call (only when
the writer lags by more than `max(4 * batch_size, 10,000)` mutations and the
stream is calm does `write()` encode the inbox itself, so that what waits is
compact). The writer thread encodes the inbox into the backlog, takes up to
`batch_size` mutations from the head of the backlog when that many are waiting or
the oldest has waited `flush_interval`, keeps the last version of each document,
and sends one unordered bulk write per collection (`bulk`). A batch leaves the
backlog only once the database has acknowledged it; until then the writer
retries with backoff, so a database that is down loses nothing.

The live stream comes first: while the batches say the kernel's stream is dense
(`write(..., dense=True)`), the writer neither encodes nor sends, so that the live
thread has the interpreter and the CPUs to itself, and it catches up once the
stream calms down; see `MongoStore`.

Documents are encoded to BSON once, on the writer thread (a document BSON cannot
hold is refused there, counted with its reason), and sent as `RawBSONDocument`s,
so the same bytes go to memory, to the spill journal (`journal`) and to the
database. Past `max_queued` mutations in memory, or once one has waited
`spill_after` seconds, batches go to the journal instead, and come back from it
in order; see `MongoStore` for the policy when the journal is full and at close.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from pathlib import Path

from pymongo import IndexModel
from pymongo.errors import PyMongoError

from ..errors import GodoError, StoreError
from .backlog import Backlog
from .base import Mutation, _Store
from .bulk import BulkWriter
from .client import RoundTrips, check_front_ends, client, connect_error
from .encode import encode_batch
from .hold import LiveHold
from .journal import Journal, JournalFull
from .journal_dir import open_journal
from .schema import DEFAULT_DATABASE, INDEXES
from .uri import redact
from .writer_thread import Sender, WriterThread, spill_watch


def say(message: str) -> None:
    """Tell the user what the store is doing about a fault, one line on stderr."""
    print(f"godo: {message}", file=sys.stderr, flush=True)


class MongoStore(_Store):
    """Writes mutations to MongoDB (or FerretDB) on a writer thread; see the module.

    `start()` connects, checks the server, creates the indexes and opens the spill
    journal (`journal_dir`; None: memory only), whose batches left by an earlier run
    are written first; `write()` queues; `flush()` waits for the database to
    acknowledge what was queued; `close()` flushes and stops.

    The live stream first: `write()` only appends the batch to an inbox. The writer
    thread encodes the inbox to BSON into the backlog and sends the backlog to the
    database. A batch written `dense` (the kernel's stream is under pressure) holds
    both back until none has come for `hold_calm` seconds, so that the live
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
    `journal_max_bytes`, or on a full disk (an append is all or nothing), makes
    `write()` wait for room once `2 * max_queued` writes wait in memory:
    backpressure on the live loop, whose cost is the kernel's `lost` counter,
    never a silent drop, said once on stderr. It waits while the database makes
    progress; once it has taken nothing for `full_wait` seconds, or after
    `interrupt()` (godo is stopping), a batch that finds no room is counted as
    dropped, and said.

    `close()` waits while the database makes progress. When it makes none for
    `spill_after`, what is only in memory goes to the journal, for the next start,
    and close returns; without a journal it waits `stall_timeout` (a journal with
    no room: `full_wait`, said on stderr) without progress, then counts what
    remains as dropped and raises StoreError.
    """

    def __init__(self, uri: str, database: str = DEFAULT_DATABASE, *, host: str | None = None,
                 batch_size: int = 1000, flush_interval: float = 1.0, timeout: float = 5.0,
                 max_queued: int = 100_000, stall_timeout: float = 30.0,
                 journal_dir: str | os.PathLike | None = None, journal_for=None,
                 journal_max_bytes: int = 1 << 30,
                 spill_after: float = 2.0, fsync_interval: float | None = 1.0,
                 hold_calm: float = 0.5, journal_hold_bytes: int | None = None,
                 full_wait: float = 120.0):
        super().__init__(host)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.uri = uri
        self.database_name = database
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.full_wait = full_wait
        self.journal_dir = Path(journal_dir) if journal_dir is not None else None
        # journal_for(database) -> the journal's directory, known once connected
        # (it is named from the database's identity: journal_dir.journal_dir_of).
        self._journal_for = journal_for
        self.journal_max_bytes = journal_max_bytes
        self.spill_after = spill_after
        self.fsync_interval = fsync_interval
        self.max_queued = max_queued
        # Unencoded mutations past which write() encodes them itself, unless held.
        self._inbox_help = max(4 * batch_size, 10_000)
        self.journal_hold_bytes = (journal_max_bytes // 2 if journal_hold_bytes is None
                                   else journal_hold_bytes)
        self._round_trips = RoundTrips()
        self._client = None
        self._db = None
        # The database side of the writer thread: the bulk writer, its backoff, and
        # what was written or failed.
        self._sender = Sender(uri, self._round_trips)
        self._thread: threading.Thread | None = None
        self._spiller: threading.Thread | None = None
        self._cond = threading.Condition()
        # Batches handed to write(), not yet encoded: [mutations, arrived], oldest first.
        self._inbox: deque = deque()
        self._inbox_count = 0
        self._backlog = Backlog(max_queued)
        self._journal_lock: int | None = None
        self._closing = self._abandon = self._closed = self._interrupted = False
        self._flushing = 0
        # Counters below change under self._cond.
        self._submitted = 0     # mutations handed to write()
        self._accepted = 0      # mutations queued: write()'s, and those found in the journal
        self._done = 0          # queued mutations acknowledged, or refused for good
        self._recovered = 0     # found in the journal at start
        self._dropped = 0       # given up: neither written nor journaled
        self._rejected = 0
        self._backpressure_waits = 0
        self._backpressure_seconds = 0.0
        self._journal_errors = 0
        self._last_error: str | None = None
        self._last_progress = time.monotonic()
        self._move_retry_at = 0.0       # no move into a full journal before
        self._no_room = False           # the last move found the journal full
        self._said_full = False         # stderr was told the journal is full
        self._gave_up = None            # progress when write() last gave up waiting
        self._said_wait_at = -1e9       # when stderr was last told write() waits
        self._room_error = ""
        # Holding back for the live stream: set by the live thread alone.
        self._live = LiveHold(hold_calm)


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
        conn = None
        try:
            conn = client(self.uri, self.timeout, [self._round_trips])
            info = conn.admin.command("buildInfo")
            check_front_ends(info, self.uri)
            self._db = conn[self.database_name]
            self._sender.bulk = BulkWriter(self._db, self.uri, info)
            for name, keys in INDEXES.items():
                # One index a command: FerretDB 1.24 panics on a createIndexes that
                # names several indexes that all exist already (a second start).
                for k in keys:
                    self._db[name].create_indexes([IndexModel(k)])
            if self.journal_dir is None and self._journal_for is not None:
                self.journal_dir = self._journal_for(self._db)
        except (PyMongoError, GodoError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, GodoError):
                raise
            raise connect_error(exc, self.uri) from None
        if self.journal_dir is not None:
            try:
                self._open_journal()
            except BaseException:
                conn.close()
                raise
        self._client = conn
        self._last_progress = time.monotonic()
        self._thread = threading.Thread(target=WriterThread(self, self._sender).run,
                                        name="godo-store-writer", daemon=True)
        self._thread.start()
        if self.journal is not None:
            self._spiller = threading.Thread(target=spill_watch, args=(self,), name="godo-store-spill", daemon=True)
            self._spiller.start()

    def _open_journal(self) -> None:
        journal, self._journal_lock = open_journal(
            self.journal_dir, max_bytes=self.journal_max_bytes, fsync_interval=self.fsync_interval)
        self._backlog.journal = journal
        self._recovered = self._accepted = journal.found_mutations

    # -- the live thread's side ----------------------------------------------------------------

    def write(self, mutations: list[Mutation], *, dense: bool = False) -> None:
        """Queue a batch of mutations. It joins the inbox as it is, to be encoded on
        the writer thread; write() never waits for the database. Only with twice
        `max_queued` mutations waiting to be encoded (the writer is stuck) does it
        encode the oldest itself, into the journal, and then, with the journal full,
        it waits for room. A document BSON cannot hold is refused when it is
        encoded, and counted. The caller must not change a document once it has
        handed it over. `dense`: the live stream is under pressure (see `_hold`)."""
        if dense:
            self._live.dense(time.monotonic())
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
        down to the bound, waiting while the journal has no room and the database
        makes progress (said once on stderr). Given up, the batch counted as
        dropped: after `interrupt()`, or once the database has taken nothing for
        `full_wait` seconds. Whether the batch may be queued."""
        waited_since = None
        progress = self._progress()
        last_progress = time.monotonic()
        try:
            while self._over_bound():
                now = time.monotonic()
                if self._move(now, spill=True, limit=self._inbox_count - self.max_queued + 1):
                    continue
                if self._progress() > progress:
                    progress, last_progress = self._progress(), now
                stalled = now - last_progress > self.full_wait or progress == self._gave_up
                if self._interrupted or self._abandon or stalled:
                    self._dropped += n
                    why = (f"the database took nothing for {self.full_wait:.0f} s" if stalled
                           else "godo is stopping")
                    self._last_error = f"{n} writes dropped ({why}): {self._room_error}"
                    if stalled and self._gave_up != progress:
                        self._gave_up = progress
                        say(f"the spill journal is full and the database took nothing for "
                            f"{self.full_wait:.0f} s: dropping document writes until it "
                            "does (counted as lost)")
                    return False
                if waited_since is None:
                    waited_since = now
                    self._backpressure_waits += 1
                    if now - self._said_wait_at > self.full_wait:
                        self._said_wait_at = now
                        say(f"{self._inbox_count} document writes wait in memory and the spill "
                            "journal is full: the recording waits for the database (up to "
                            f"{self.full_wait:.0f} s without progress)")
                self._cond.notify_all()
                self._cond.wait(0.2)
            return True
        finally:
            if waited_since is not None:
                self._backpressure_seconds += time.monotonic() - waited_since

    def _progress(self) -> int:
        """What grows as the database takes writes: writes acknowledged, and the
        commands it answers (one chunk can take many on a slow server), less those
        of chunks that failed after all (a database whose disk is full answers some
        commands of every attempt). Compared by its highest value so far: only
        growth past it is progress."""
        return self._done + self._sender.answered()

    def _held(self, now: float) -> bool:
        """Encoding and database writes wait for the live stream (not while a flush
        or close waits for them)."""
        return self._live.on(now) and not self._closing and not self._flushing

    def _acknowledged(self, n: int, rejected: list[str]) -> None:
        """The database took the backlog's head, `n` mutations; `rejected` are the
        reasons for those it refused for good (under the lock)."""
        self._backlog.ack(n)
        self._done += n
        self._last_progress = time.monotonic()
        self._move_retry_at = 0.0       # the journal may have room again
        if rejected:
            self._rejected += len(rejected)
            self._last_error = rejected[-1]
        self._cond.notify_all()

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
        entries, refused = encode_batch([m for batch, _arrived in taken for m in batch])
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
                    if not self._said_full:
                        self._said_full = True
                        say(f"the spill journal has no room ({exc}): holding document writes "
                            "in memory until the database takes them; past "
                            f"{2 * self.max_queued} the recording waits (up to "
                            f"{self.full_wait:.0f} s without progress)")
                return False
        self._no_room = False
        self._inbox_count -= count
        if self._held(now):
            self._live.forced += count
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

    def settle(self, idle: float = 5.0, timeout: float | None = None) -> bool:
        """Like `flush`, but gives up (False) once the database has answered no
        command for `idle` seconds, or after `timeout` seconds (None: however long
        it keeps making progress)."""
        return self._wait_acknowledged(timeout, idle)

    def _wait_acknowledged(self, timeout: float | None, idle: float | None) -> bool:
        if self._thread is None:
            raise RuntimeError("the store is not started")
        with self._cond:
            target = self._accepted
            self._flushing += 1
            self._sender.hurry()
            self._cond.notify_all()
            progress = self._progress
            now = time.monotonic()
            deadline = None if timeout is None else now + timeout
            last, since = progress(), now
            try:
                while self._done < target and not self._abandon:
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return False
                    self._cond.wait(0.1 if deadline is None else min(0.1, deadline - now))
                    if progress() > last:
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
            self._sender.hurry()
            self._cond.notify_all()
            # Progress is any command answered, not only a whole chunk: one chunk can
            # take minutes on a slow server.
            progress = self._progress
            last, last_progress = progress(), time.monotonic()
            # Without a journal, or with one that has no room, what is in memory has
            # nowhere else to go: wait longer for the database (said once).
            bound, tried = self.stall_timeout, 0.0
            while self._done < self._accepted:
                self._cond.wait(0.1)
                now = time.monotonic()
                if progress() > last:
                    last, last_progress = progress(), now
                    continue
                if journal is not None and now - last_progress > self.spill_after and now - tried >= 1.0:
                    tried = now
                    try:
                        if not self._move(now, spill=True):
                            raise JournalFull(self._room_error)
                        self._backlog.spill()
                    except (JournalFull, OSError) as exc:
                        self._journal_errors += 1
                        self._last_error = f"the spill journal has no room for the rest: {exc}"
                        if bound != self.full_wait:
                            bound = self.full_wait
                            say(f"the spill journal has no room for the last "
                                f"{self._backlog.memory_only + self._inbox_count} document writes "
                                f"({exc}): waiting up to {bound:.0f} s for the database to take them")
                    else:
                        break
                if now - last_progress > bound:
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
            sender, live = self._sender, self._live
            return {
                "store": "mongo", "submitted": self._submitted,
                "written": sum(sender.written.values()), "collections": dict(sender.written),
                "queued": self._accepted - self._done, "pending": pending, "inbox": inbox,
                "in_memory": backlog.in_memory + inbox, "memory_only": backlog.memory_only + inbox,
                "bulk_calls": sender.calls,
                "round_trips": trips.count, "errors": sender.errors, "rejected": self._rejected,
                "coalesced": sender.coalesced, "last_error": self._last_error,
                "backlog_peak": backlog.peak, "over_limit": backlog.over_limit,
                "recovered": self._recovered, "spilled": backlog.spilled, "spills": backlog.spills,
                "replayed": backlog.loaded, "dropped": self._dropped,
                # Waiting in the journal (after close: left there for the next start).
                "journaled": (journal.unread_mutations + backlog.in_memory - backlog.memory_only
                              if journal is not None else 0),
                # Queued and neither acknowledged, nor waiting, nor given up as dropped:
                # 0 unless the backlog lost something. Counted two ways on purpose.
                "unaccounted": self._accepted - self._done - pending,
                "backpressure_waits": self._backpressure_waits,
                "backpressure_seconds": round(self._backpressure_seconds, 3),
                "held": {"times": live.times, "seconds": round(live.seconds(now), 3),
                         "forced": live.forced},
                "journal_errors": self._journal_errors,
                "journal": journal.stats() if journal is not None else None,
            }
