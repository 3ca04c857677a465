"""The store's writer thread and its parts: what is due next, the database side
(`Sender`), and the spill watch.

`MongoStore` (store/writer.py) owns the queue: the inbox, the backlog and their
counters, under its condition. `WriterThread` takes from the head of that queue
what is due (encode inbox batches into the backlog, send the backlog's head, or
stop) and hands chunks to its `Sender`, which owns everything about the database
side: the bulk writer, the backoff after a failure, what was written and what
failed. `spill_watch`, on a thread of its own, journals what has waited too long in
memory.
"""

from __future__ import annotations

import time

from .bulk import Retry
from .client import reason
from .journal import JournalFull

_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 5.0
_BACKOFF_ENDING = 0.5   # the longest backoff while a flush or close waits
_PR_SET_NAME = 15  # prctl(2)


class Sender:
    """Chunks into the database through a `BulkWriter`, with backoff after a failure.

    `send` runs without the store's lock (it waits for the database); the rest is
    called under it, and what it counts changes under it.
    """

    def __init__(self, uri: str, round_trips):
        self.uri = uri
        self.round_trips = round_trips
        self.bulk = None                # a BulkWriter, once the store is started
        self.retry_at = 0.0             # no write to the database before (backoff)
        self.errors = 0
        self.coalesced = 0              # mutations folded into a later one of a chunk
        self.written: dict[str, int] = {}
        self._backoff = 0.0
        self._wasted = 0                # commands answered in chunks that then failed

    @property
    def calls(self) -> int:
        return self.bulk.calls if self.bulk is not None else 0

    def answered(self) -> int:
        """Commands the database answered, less those of chunks that failed after all
        (a database whose disk is full answers some commands of every attempt)."""
        return self.round_trips.succeeded_count - self._wasted

    def send(self, chunk: list) -> tuple[dict[str, int], list[str]] | str:
        """Write one chunk: (documents written per collection, reasons for those
        refused for good), or why it failed (to be tried again)."""
        try:
            return self.bulk.write_chunk(chunk)
        except Retry as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the writer
            return f"{type(exc).__name__}: {reason(exc, self.uri)}"

    def sent(self, chunk: list, written: dict[str, int], rejected: list[str]) -> None:
        self._backoff = 0.0
        for name, n in written.items():
            self.written[name] = self.written.get(name, 0) + n
        self.coalesced += len(chunk) - sum(written.values()) - len(rejected)

    def failed(self, answered_before: int | None, ending: bool) -> None:
        """A chunk failed (None: none could be read): back off. A run that ends waits
        for the database: it is asked often then, so that a database back up is
        seen at once, not after a long backoff."""
        if answered_before is not None:
            self._wasted += self.round_trips.succeeded_count - answered_before
        longest = _BACKOFF_ENDING if ending else _BACKOFF_MAX
        self._backoff = min(longest, max(_BACKOFF_MIN, self._backoff * 2))
        self.errors += 1
        # Only moves go on meanwhile; new writes do not cut the backoff short.
        self.retry_at = time.monotonic() + self._backoff

    def hurry(self) -> None:
        """A flush or close waits: the next attempt comes soon."""
        self.retry_at = min(self.retry_at, time.monotonic() + _BACKOFF_ENDING)


class WriterThread:
    """The loop of the store's writer thread over the store's queue."""

    def __init__(self, store, sender: Sender):
        self.store = store
        self.sender = sender

    def _next(self) -> str | None:
        """What the writer does next, once it is due (waits under the lock until
        then): "move" inbox batches into the backlog, "send" the backlog's head to
        the database, or None: stop."""
        s = self.store
        while True:
            if s._abandon:
                return None
            now = time.monotonic()
            held = s._held(now)
            waits = []
            inbox, backlog = s._inbox, s._backlog
            if inbox:
                if held and s._inbox_count < s.max_queued:
                    pass        # waits in memory until the stream calms down
                elif (held or s._closing or s._flushing or s._no_room
                      or s._inbox_count >= min(s.batch_size, s.max_queued)
                      or now - inbox[0][1] >= s.flush_interval):
                    if now >= s._move_retry_at:
                        return "move"
                    waits.append(s._move_retry_at - now)
                else:
                    waits.append(inbox[0][1] + s.flush_interval - now)
            if backlog and (not held or self._journal_heavy()):
                if now < self.sender.retry_at:
                    waits.append(self.sender.retry_at - now)
                elif (s._closing or s._flushing or len(backlog) >= s.batch_size
                      or now - backlog.oldest() >= s.flush_interval):
                    return "send"
                else:
                    waits.append(backlog.oldest() + s.flush_interval - now)
            elif s._closing and not inbox and not backlog:
                return None
            if held:
                waits.append(s._live.until - now)
            s._cond.wait(max(0.0, min(waits)) if waits else None)

    def _journal_heavy(self) -> bool:
        """Past this much in the journal the database gets writes even while held."""
        journal = self.store._backlog.journal
        return journal is not None and journal.size >= self.store.journal_hold_bytes

    def run(self) -> None:
        _name_thread("godo-store-writer")
        s, sender = self.store, self.sender
        while True:
            with s._cond:
                action = self._next()
                if action is None:
                    return
                if action == "move":
                    now = time.monotonic()
                    held = s._held(now)
                    # A slice at a time, the lock let go in between: write() gets in.
                    if not s._move(now, spill=held, limit=256 if held else s.batch_size):
                        s._move_retry_at = now + 0.2
                    continue
                chunk = self._head()
                if chunk == []:
                    s._backlog.ack(0)        # releases the empty records' segments
                    continue
            answered = None
            if isinstance(chunk, list):
                answered = sender.round_trips.succeeded_count
                outcome = sender.send(chunk)
                if not isinstance(outcome, str):
                    with s._cond:
                        if s._abandon:
                            return
                        sender.sent(chunk, *outcome)
                        s._acknowledged(len(chunk), outcome[1])
                    continue
                chunk = outcome
            with s._cond:
                sender.failed(answered, s._closing or s._flushing)
                s._last_error = chunk

    def _head(self) -> list | str:
        """The backlog's head, up to a batch (under the lock), or why it could not be
        read. Mutations lost with a journal record that no longer checks out are
        done with, and counted as the journal's loss."""
        s = self.store
        try:
            chunk = s._backlog.peek(s.batch_size)
        except OSError as exc:
            chunk = f"reading the spill journal failed: {exc}"
        lost = s._backlog.take_lost()
        if lost:
            s._done += lost
            s._last_error = f"{lost} document writes lost to a damaged journal record"
            s._cond.notify_all()
        return chunk


def spill_watch(store) -> None:
    """Journal what has waited `spill_after` in memory, even when no write comes to
    do it and the writer is stuck in a call to a database that does not answer:
    encoded batches, and the inbox unless the live stream holds it back. Runs on a
    thread of its own until the store is abandoned."""
    _name_thread("godo-store-spill")
    s = store
    with s._cond:
        while not s._abandon:
            s._cond.wait(max(0.05, s.spill_after / 4))
            if s._abandon:
                return
            now = time.monotonic()
            if (s._inbox and not s._held(now) and now >= s._move_retry_at
                    and now - s._inbox[0][1] >= s.spill_after):
                s._move(now, spill=True)
            if s._stale(now):
                try:
                    s._backlog.spill()
                except (JournalFull, OSError) as exc:
                    s._journal_errors += 1
                    s._last_error = f"the spill journal failed: {exc}"


def _name_thread(name: str) -> None:
    """Give the calling thread its name in the OS too (`top -H`, /proc/PID/task/TID/comm),
    so that where godo's CPU goes can be seen thread by thread."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass
