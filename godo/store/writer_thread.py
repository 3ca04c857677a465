"""The store writer's own thread: what it does next (move the inbox into the
backlog, send the backlog's head, or stop), the bulk write with retries and
backoff, and the watch that journals what has waited too long in memory.

`WriterThread` is MongoStore's other half (store/writer.py has the live thread's
side and the state both share, under `self._cond`).
"""

from __future__ import annotations

import time

from .bulk import Retry
from .client import reason
from .journal import JournalFull

_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 5.0
_BACKOFF_ENDING = 0.5   # the longest backoff while a flush or close waits
_PR_SET_NAME = 15  # prctl(2)


class WriterThread:
    """The methods that run on the store's writer and spill threads."""

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
                    chunk, why = None, f"reading the spill journal failed: {exc}"
                lost = self._backlog.take_lost()
                if lost:
                    # Queued, and gone with a record that no longer checks out: done
                    # with, and counted as the journal's loss.
                    self._done += lost
                    self._last_error = f"{lost} document writes lost to a damaged journal record"
                    self._cond.notify_all()
                if chunk == []:
                    self._backlog.ack(0)        # releases the empty records' segments
                    continue
            if chunk is not None:
                answered = self._round_trips.succeeded_count
                try:
                    written, rejected = self._bulk.write_chunk(chunk)
                except Retry as exc:
                    why = str(exc)
                except Exception as exc:  # noqa: BLE001 - a bug must not stop the writer
                    why = f"{type(exc).__name__}: {reason(exc, self.uri)}"
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
            with self._cond:
                if chunk is not None:
                    self._wasted += self._round_trips.succeeded_count - answered
                # A run that ends waits for the database: it is asked often then, so
                # that a database back up is seen at once, not after a long backoff.
                longest = _BACKOFF_ENDING if self._closing or self._flushing else _BACKOFF_MAX
                backoff = min(longest, max(_BACKOFF_MIN, backoff * 2))
                self._errors += 1
                self._last_error = why
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


def _name_thread(name: str) -> None:
    """Give the calling thread its name in the OS too (`top -H`, /proc/PID/task/TID/comm),
    so that where godo's CPU goes can be seen thread by thread."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass
