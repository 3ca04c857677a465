"""The backlog: mutations accepted and not yet acknowledged by the database, in
memory and, past its bound, in the spill journal, oldest first."""

from __future__ import annotations

from collections import deque

from .journal import Journal


class Backlog:
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
        self._lost = 0          # read back damaged, not yet told to the writer (take_lost)
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
        journal = self.journal
        lost = journal.read_lost
        record = journal.read()
        if record is None:
            return False
        entries, position = record
        # A record that no longer checks out comes back empty, its documents lost; it
        # still takes its place in the queue, so that its segment is released in order.
        self._lost += journal.read_lost - lost
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

    def take_lost(self) -> int:
        """Mutations lost to damage found reading the journal back since last asked."""
        lost, self._lost = self._lost, 0
        return lost

    def ack(self, n: int) -> None:
        batches = self._batches
        while batches and len(batches[0][0]) == batches[0][1] and batches[0][3] is not None:
            self.journal.release(batches.popleft()[3])   # an empty record, lost to damage
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
            while batches and len(batches[0][0]) == batches[0][1] and batches[0][3] is not None:
                self.journal.release(batches.popleft()[3])
