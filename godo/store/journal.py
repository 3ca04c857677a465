"""The spill journal: batches of mutations the database has not acknowledged yet,
on local disk, in order.

The store writer appends here when its in-memory backlog is over its bound, when
the database has made no progress for a while, and at shutdown, and reads the
batches back in order once the database takes writes again. A journal left by a
run that died (SIGKILL, power cut) is replayed by the next store that opens it.

Layout: one directory (0700) of segment files (0600) named `NNNNNNNNNNNN.seg`,
replayed in name order. A segment is `MAGIC`, the sequence number of its first
document and a CRC32 of those 16 bytes, then records:

    RECORD_MAGIC | u32 payload length | u32 documents | u64 sequence number of the
    first | u32 crc32 of the 20 bytes before | u32 crc32 of the payload
    payload: BSON {"c": [collection, ...], "i": [_id, ...]}, then each document's BSON

Documents are kept as the BSON the database will get (`RawBSONDocument`), so a
replayed batch is byte for byte the batch that was written, datetimes included.
A segment is deleted only once every record in it is acknowledged by the database
(`release`); a run appends only to segments it made itself.

Damage: a record that does not check out (cut short by a crash, a flipped bit) is
skipped to the next record that does (found by its magic), never raised. The
documents it held are counted as lost: the gap in the sequence numbers says how
many, else its header when that checks out, else it is a damaged record of unknown
size. A damaged segment is never deleted: once its good records are acknowledged
it is moved to `damaged/` beside the segments, kept for whoever wants to look.
Segments written by godo's first format (`OLD_MAGIC`: no record magic, no
sequence numbers) are read the same way, resynchronised on the BSON head that
starts every payload.

Durability: a record goes to the kernel in one `write`, so a godo killed by any
signal loses nothing it appended; `fdatasync` runs at most every `fsync_interval`
seconds (and when a segment is closed), so a power cut loses at most that much of
the journal, like the kernel's own audit queue, which is memory only. An fsync per
batch would put a disk flush in the live loop for every receive batch.

Full: when appending would take the journal past `max_bytes`, `append` raises
JournalFull and the caller decides (the store writer makes the tracker wait).
"""

from __future__ import annotations

import mmap
import os
import re
import time
import zlib
from collections import deque
from pathlib import Path

import bson

from .journal_format import (HEADER_SIZE, MAGIC, OLD_HEADER, OLD_MAGIC, RECORD_MAGIC,  # noqa: F401
                             SEGMENT_HEAD, decode_payload, encode_record, key_of, next_record,
                             read_record, record_at, segment_head, damaged_records)

SEGMENT = re.compile(r"^(\d{12})\.seg$")
DAMAGED = "damaged"              # where damaged segments are kept, beside the segments
RECORD_TARGET = 1 << 20         # a batch is split into records of about this size

Entry = tuple  # (collection, _id, key, raw BSON bytes)


class JournalFull(Exception):
    """Appending would take the journal past its size bound."""


class JournalError(Exception):
    """The journal directory cannot be used."""


class _Segment:
    __slots__ = ("number", "path", "size", "old", "good", "mutations", "next_read",
                 "read_mutations", "damaged")

    def __init__(self, number: int, path: Path, size: int = SEGMENT_HEAD.size):
        self.number = number
        self.path = path
        self.size = size          # bytes, header included
        self.old = False          # godo's first format
        self.good: list = []      # (offset, length, documents) of the records that check out
        self.mutations = 0        # documents in them
        self.next_read = 0        # index into good of the next record to read
        self.read_mutations = 0
        self.damaged = False      # kept in DAMAGED once acknowledged, never deleted

    @property
    def records(self) -> int:
        return len(self.good)


class Journal:
    """An append-only journal in `directory`; see the module. Not thread-safe: the
    store calls it under its own lock."""

    def __init__(self, directory: str | os.PathLike, *, max_bytes: int = 1 << 30,
                 segment_bytes: int | None = None, fsync_interval: float | None = 1.0):
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1 << 20, min(64 << 20, max_bytes // 8))
        self.fsync_interval = fsync_interval
        self._segments: deque[_Segment] = deque()
        self._fd: int | None = None             # the segment being appended to (the last)
        self._own: _Segment | None = None       # that segment: made by this journal
        self._read_seg = 0                      # index into _segments of the read cursor
        self._read_fd: int | None = None
        self._read_fd_number = -1
        self._last_sync = time.monotonic()
        self._next_number = 1
        self._seq = 0                           # sequence number of the next document
        # Counted since open.
        self.found_records = self.found_mutations = 0   # left by an earlier run
        self.lost_records = 0    # damaged records: skipped, their documents lost
        self.lost_mutations = 0  # documents in them, where it can be told
        self.unknown_records = 0  # of those, records whose document count cannot be told
        self.read_lost = 0       # documents lost to damage found only when read back
        self.dropped_bytes = 0   # damaged bytes skipped
        self.damaged: list[str] = []    # segments found damaged (kept in DAMAGED)
        self.appended_records = self.appended_mutations = self.appended_bytes = 0
        self.read_records = self.read_mutations = 0
        self.syncs = 0
        self.unread_records = self.unread_mutations = 0
        self._open()

    # -- opening: what an earlier run left ---------------------------------------------

    def _open(self) -> None:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.dir.stat().st_mode & 0o077:
                self.dir.chmod(0o700)
            names = sorted(os.listdir(self.dir))
        except OSError as exc:
            raise JournalError(f"cannot use journal directory {self.dir}: {exc.strerror}") from None
        for name in names:
            match = SEGMENT.match(name)
            if match is None:
                continue
            number = int(match.group(1))
            self._next_number = max(self._next_number, number + 1)
            segment = self._scan(number, self.dir / name)
            if segment is None:
                continue
            if segment.damaged:
                self.damaged.append(segment.path.name)
            if not segment.good:
                self._retire(segment)
                continue
            self._segments.append(segment)
            self.found_records += segment.records
            self.found_mutations += segment.mutations
        self.unread_records, self.unread_mutations = self.found_records, self.found_mutations

    def _scan(self, number: int, path: Path) -> _Segment | None:
        """Check every record of a segment: the good ones are indexed, the damaged
        ones skipped and counted. None for an empty file."""
        try:
            with open(path, "rb") as f:
                os.fchmod(f.fileno(), 0o600)
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    path.unlink()
                    return None
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    return self._index(_Segment(number, path, size), data)
        except (OSError, ValueError) as exc:
            raise JournalError(f"cannot read the journal segment {path}: {exc}") from None

    def _index(self, segment: _Segment, data) -> _Segment:
        size = segment.size
        head = bytes(data[:SEGMENT_HEAD.size])
        expected = None         # the sequence number the next record should carry
        if head[:len(OLD_MAGIC)] == OLD_MAGIC:
            segment.old, off = True, len(OLD_MAGIC)
        elif len(head) == SEGMENT_HEAD.size and head[:8] == MAGIC and \
                zlib.crc32(head[:16]) == SEGMENT_HEAD.unpack(head)[2]:
            expected, off = SEGMENT_HEAD.unpack(head)[1], SEGMENT_HEAD.size
        elif size <= SEGMENT_HEAD.size:
            # Too short to hold a record (cut while it was being made): nothing lost,
            # but not what godo wrote either: kept aside.
            segment.damaged = True
            return segment
        else:
            # The segment's own head is damaged: whichever format has records in it.
            segment.damaged = True
            first = next_record(data, 0, size, old=False)
            if first is None:
                first = next_record(data, 0, size, old=True)
                segment.old = first is not None
            at = first.offset if first is not None else -1
            if first is None:
                at = data.find(RECORD_MAGIC, 0, size)       # a header that checks out
                if at >= 0 and record_at(data, at, size, False) is None:
                    at = -1
            # Records start where the format puts the first; a file with no trace of
            # either format is one damaged record of unknown size.
            off = min(at, len(OLD_MAGIC) if segment.old else SEGMENT_HEAD.size) if at >= 0 else 0
            self.dropped_bytes += off
        old = segment.old
        while off < size:
            found = record_at(data, off, size, old)
            if found is not None and found.checked:
                segment.good.append((off, found.length, found.count))
                segment.mutations += found.count
                if found.seq is not None:
                    expected = found.seq + found.count
                    self._seq = max(self._seq, expected)
                off += found.length
                continue
            segment.damaged = True
            following = next_record(data, off + 1, size, old)
            end = following.offset if following is not None else size
            self.dropped_bytes += end - off
            records, documents, unknown = damaged_records(data, off, end, old)
            if following is not None and following.seq is not None and expected is not None:
                # The sequence numbers say exactly how many documents the stretch held.
                self.lost_records += max(1, records + unknown)
                self.lost_mutations += following.seq - expected
            else:
                self.lost_records += records + unknown
                self.lost_mutations += documents
                self.unknown_records += unknown
            off = end
        return segment

    def _retire(self, segment: _Segment) -> None:
        """A segment whose good records are all acknowledged: deleted, or, damaged,
        moved to DAMAGED to be kept."""
        if not segment.damaged:
            segment.path.unlink(missing_ok=True)
            return
        aside = self.dir / DAMAGED
        aside.mkdir(mode=0o700, exist_ok=True)
        target = aside / segment.path.name
        if target.exists():
            target = aside / f"{segment.path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
        segment.path.replace(target)

    # -- the state ------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes on disk in live segments."""
        return sum(s.size for s in self._segments)

    @property
    def has_unread(self) -> bool:
        return self.unread_records > 0

    def __bool__(self) -> bool:
        return bool(self._segments)

    def stats(self) -> dict:
        return {"dir": str(self.dir), "bytes": self.size, "segments": len(self._segments),
                "unread_records": self.unread_records, "unread_mutations": self.unread_mutations,
                "found_records": self.found_records, "found_mutations": self.found_mutations,
                "appended_records": self.appended_records,
                "appended_mutations": self.appended_mutations,
                "appended_bytes": self.appended_bytes, "read_records": self.read_records,
                "read_mutations": self.read_mutations, "lost_records": self.lost_records,
                "lost_mutations": self.lost_mutations, "unknown_records": self.unknown_records,
                "dropped_bytes": self.dropped_bytes, "damaged": list(self.damaged),
                "damaged_dir": str(self.dir / DAMAGED), "syncs": self.syncs,
                "max_bytes": self.max_bytes}

    # -- appending --------------------------------------------------------------------------

    def append(self, entries: list) -> int:
        """Append a batch (split into records of about RECORD_TARGET bytes); returns
        the bytes written. JournalFull, with nothing written, if it does not fit."""
        groups = []
        start = 0
        size = 0
        for i, entry in enumerate(entries):
            size += len(entry[3]) + 64
            if size >= RECORD_TARGET or i == len(entries) - 1:
                groups.append(entries[start:i + 1])
                start, size = i + 1, 0
        records, seq = [], self._seq
        for group in groups:
            records.append((encode_record(group, seq), len(group)))
            seq += len(group)
        total = sum(len(r) for r, _n in records)
        if self.size + total + SEGMENT_HEAD.size > self.max_bytes and self._segments:
            raise JournalFull(f"the journal is full ({self.size} of {self.max_bytes} bytes)")
        undo = self._mark()
        try:
            for record, count in records:
                self._append_record(record, count)
        except OSError:
            # All or nothing: the caller keeps the batch and offers it again, so a
            # part of it left here would be written twice (disk full part way).
            self._undo(undo)
            raise
        self._maybe_sync()
        return total

    def _mark(self) -> tuple:
        own = self._own
        return (own, own.size if own else 0, own.records if own else 0,
                own.mutations if own else 0, len(self._segments), self._seq,
                self.unread_records, self.unread_mutations, self.appended_records,
                self.appended_mutations, self.appended_bytes)

    def _undo(self, mark: tuple) -> None:
        """Take back what appends since `mark` (from `_mark`) wrote."""
        own, size, records, mutations, segments = mark[:5]
        while len(self._segments) > segments:
            made = self._segments.pop()
            if made is self._own and self._fd is not None:
                os.close(self._fd)
                self._fd = None
            made.path.unlink(missing_ok=True)
        self._own = own
        if own is not None:
            if self._fd is None:
                self._fd = os.open(own.path, os.O_RDWR | os.O_CLOEXEC)
            os.ftruncate(self._fd, size)
            own.size, own.mutations = size, mutations
            del own.good[records:]
        (self._seq, self.unread_records, self.unread_mutations, self.appended_records,
         self.appended_mutations, self.appended_bytes) = mark[5:]

    def _append_record(self, record: bytes, count: int) -> None:
        segment = self._own
        if segment is None or segment.size + len(record) > self.segment_bytes and segment.records:
            segment = self._new_segment()
        written = os.pwrite(self._fd, record, segment.size)
        if written != len(record):
            # A short write (disk full): cut it off so the segment stays whole.
            os.ftruncate(self._fd, segment.size)
            raise OSError(28, "short write to the journal")
        segment.good.append((segment.size, written, count))
        segment.size += written
        segment.mutations += count
        self._seq += count
        self.unread_records += 1
        self.unread_mutations += count
        self.appended_records += 1
        self.appended_mutations += count
        self.appended_bytes += written

    def _new_segment(self) -> _Segment:
        if self._fd is not None:
            self._sync()
            os.close(self._fd)
            self._fd = self._own = None
        number = self._next_number
        self._next_number += 1
        path = self.dir / f"{number:012d}.seg"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            head = segment_head(self._seq)
            if os.pwrite(fd, head, 0) != len(head):
                raise OSError(28, "short write to the journal")
            _sync_dir(self.dir)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd = fd
        segment = self._own = _Segment(number, path)
        self._segments.append(segment)
        return segment

    def _maybe_sync(self) -> None:
        interval = self.fsync_interval
        if interval is None or self._fd is None:
            return
        if interval <= 0 or time.monotonic() - self._last_sync >= interval:
            self._sync()

    def _sync(self) -> None:
        if self._fd is not None:
            os.fdatasync(self._fd)
            self.syncs += 1
        self._last_sync = time.monotonic()

    # -- reading and releasing -------------------------------------------------------------------

    def read(self) -> tuple[list, tuple[int, int]] | None:
        """The next unread record's entries and its position (for `release`), or
        None when everything appended has been read. A record that no longer checks
        out (the disk changed under us) is skipped and its documents counted as
        lost (`read_lost` too: the store had counted them as queued)."""
        while self._read_seg < len(self._segments):
            segment = self._segments[self._read_seg]
            if segment.next_read >= segment.records:
                if segment is self._segments[-1]:
                    return None
                self._read_seg += 1
                continue
            off, length, count = segment.good[segment.next_read]
            segment.next_read += 1
            segment.read_mutations += count
            self.unread_records -= 1
            self.unread_mutations -= count
            position = (segment.number, segment.next_read)
            entries = self._entries(segment, off, length, count)
            if entries is None:
                segment.damaged = True
                if segment.path.name not in self.damaged:
                    self.damaged.append(segment.path.name)
                self.lost_records += 1
                self.lost_mutations += count
                self.read_lost += count
                self.dropped_bytes += length
                return [], position
            self.read_records += 1
            self.read_mutations += count
            return entries, position
        return None

    def _entries(self, segment: _Segment, off: int, length: int, count: int) -> list | None:
        fd = self._reader(segment)
        data = os.pread(fd, length, off)
        found = record_at(data, 0, len(data), segment.old)
        if found is None or not found.checked or found.length != length:
            return None
        start = OLD_HEADER.size if segment.old else HEADER_SIZE
        try:
            return decode_payload(data[start:], count)
        except (ValueError, IndexError, KeyError, TypeError, bson.errors.BSONError):
            return None

    def _reader(self, segment: _Segment) -> int:
        if self._read_fd_number != segment.number:
            if self._read_fd is not None:
                os.close(self._read_fd)
            self._read_fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
            self._read_fd_number = segment.number
        return self._read_fd

    def release(self, position: tuple[int, int]) -> None:
        """Every record up to `position` (as returned by `read`) is acknowledged by the
        database: delete (or, damaged, set aside) the segments that hold nothing else."""
        number, index = position
        while self._segments:
            head = self._segments[0]
            done = head.number < number or (head.number == number and index >= head.records)
            if not done:
                return
            if head is self._own:
                if self.unread_records:
                    return
                self._drop_all()
                return
            self._close_reader(head)
            self._retire(head)
            self._segments.popleft()
            if self._read_seg:
                self._read_seg -= 1

    def _close_reader(self, segment: _Segment) -> None:
        if self._read_fd_number == segment.number:
            os.close(self._read_fd)
            self._read_fd, self._read_fd_number = None, -1

    def _drop_all(self) -> None:
        """Everything is acknowledged: the journal is empty again."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._own = None
        while self._segments:
            segment = self._segments.popleft()
            self._close_reader(segment)
            self._retire(segment)
        self._read_seg = 0

    def close(self) -> None:
        if self._fd is not None:
            try:
                self._sync()
            finally:
                os.close(self._fd)
                self._fd = None
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd, self._read_fd_number = None, -1


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
