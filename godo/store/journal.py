"""The spill journal: batches of mutations the database has not acknowledged yet,
on local disk, in order.

The store writer appends here when its in-memory backlog is over its bound, when
the database has made no progress for a while, and at shutdown, and reads the
batches back in order once the database takes writes again. A journal left by a
run that died (SIGKILL, power cut) is replayed by the next store that opens it.

Layout: one directory (0700) of segment files (0600) named `NNNNNNNNNNNN.seg`,
replayed in name order. A segment is `MAGIC` followed by records:

    u32 payload length | u32 mutations | u32 crc32 of the 8 bytes before and the payload
    payload: BSON {"c": [collection, ...], "i": [_id, ...]}, then each document's BSON

Documents are kept as the BSON the database will get (`RawBSONDocument`), so a
replayed batch is byte for byte the batch that was written, datetimes included.
A segment is deleted only once every record in it is acknowledged by the database
(`release`). A record that does not check out (cut short by a crash, or damaged)
ends its segment: it and whatever follows it there are dropped and counted, never
raised, and the file is cut back so that appends go on after the last good record.

Durability: a record goes to the kernel in one `write`, so a godo killed by any
signal loses nothing it appended; `fdatasync` runs at most every `fsync_interval`
seconds (and when a segment is closed), so a power cut loses at most that much of
the journal, like the kernel's own audit queue, which is memory only. An fsync per
batch would put a disk flush in the live loop for every receive batch.

Full: when appending would take the journal past `max_bytes`, `append` raises
JournalFull and the caller decides (the store writer makes the tracker wait).
"""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from collections import deque
from pathlib import Path

import bson

MAGIC = b"GODOJNL1"
_HEADER = struct.Struct("<III")
SEGMENT = re.compile(r"^(\d{12})\.seg$")
_MAX_RECORD = 64 << 20          # a payload longer than this is damage, not data
RECORD_TARGET = 1 << 20         # a batch is split into records of about this size

Entry = tuple  # (collection, _id, key, raw BSON bytes)


class JournalFull(Exception):
    """Appending would take the journal past its size bound."""


class JournalError(Exception):
    """The journal directory cannot be used."""


def encode_record(entries: list) -> bytes:
    """One record (header and payload) holding `entries`."""
    head = bson.encode({"c": [e[0] for e in entries], "i": [e[1] for e in entries]})
    payload = b"".join([head, *(e[3] for e in entries)])
    lengths = struct.pack("<II", len(payload), len(entries))
    return lengths + struct.pack("<I", zlib.crc32(payload, zlib.crc32(lengths))) + payload


def decode_payload(payload: bytes, count: int) -> list:
    """The entries of a checked payload; ValueError if it does not hold `count`."""
    view = memoryview(payload)
    head_len = int.from_bytes(view[:4], "little")
    head = bson.decode(view[:head_len])
    names, ids = head["c"], head["i"]
    if len(names) != count or len(ids) != count:
        raise ValueError("record header does not match its count")
    entries = []
    off = head_len
    end = len(payload)
    for name, _id in zip(names, ids):
        size = int.from_bytes(view[off:off + 4], "little")
        if size < 5 or off + size > end:
            raise ValueError("document runs past its record")
        entries.append((name, _id, key_of(_id), bytes(view[off:off + size])))
        off += size
    if off != end:
        raise ValueError("bytes left over after the documents")
    return entries


def key_of(value):
    """A dict key equal for equal `_id`s; compound ids are compared as BSON, as the
    database compares them."""
    try:
        hash(value)
        return value
    except TypeError:
        return bson.encode({"": value})


class _Segment:
    __slots__ = ("number", "path", "size", "records", "mutations", "read_records", "read_mutations")

    def __init__(self, number: int, path: Path, size: int = len(MAGIC)):
        self.number = number
        self.path = path
        self.size = size          # bytes of good records, magic included
        self.records = self.mutations = 0
        self.read_records = self.read_mutations = 0


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
        self._read_seg = 0                      # index into _segments of the read cursor
        self._read_off = len(MAGIC)
        self._read_fd: int | None = None
        self._read_fd_number = -1
        self._last_sync = time.monotonic()
        self._next_number = 1
        # Counted since open.
        self.found_records = self.found_mutations = 0   # left by an earlier run
        self.torn = 0            # records dropped: cut short or failing their checksum
        self.dropped_bytes = 0   # bytes cut from segments behind such a record
        self.bad_segments = 0    # files set aside whole (not a godo journal)
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
            if segment.records == 0:
                segment.path.unlink(missing_ok=True)
                continue
            self._segments.append(segment)
            self.found_records += segment.records
            self.found_mutations += segment.mutations
        self.unread_records, self.unread_mutations = self.found_records, self.found_mutations

    def _scan(self, number: int, path: Path) -> _Segment | None:
        """Check every record of a segment; cut it back after its last good one."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            self.bad_segments += 1
            return None
        try:
            os.fchmod(fd, 0o600)
            size = os.fstat(fd).st_size
            if os.pread(fd, len(MAGIC), 0) != MAGIC:
                self.bad_segments += 1
                os.close(fd)
                fd = -1
                path.replace(path.with_name(path.name + ".bad"))
                return None
            segment = _Segment(number, path)
            off = len(MAGIC)
            while off < size:
                checked = read_record(fd, off, size)
                if checked is None:
                    self.torn += 1
                    self.dropped_bytes += size - off
                    os.ftruncate(fd, off)
                    break
                _payload, count, length = checked
                segment.records += 1
                segment.mutations += count
                off += length
            segment.size = off
            return segment
        finally:
            if fd >= 0:
                os.close(fd)

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
                "read_mutations": self.read_mutations, "torn": self.torn,
                "dropped_bytes": self.dropped_bytes, "bad_segments": self.bad_segments,
                "syncs": self.syncs, "max_bytes": self.max_bytes}

    # -- appending --------------------------------------------------------------------------

    def append(self, entries: list) -> int:
        """Append a batch (split into records of about RECORD_TARGET bytes); returns
        the bytes written. JournalFull, with nothing written, if it does not fit."""
        records = []
        start = 0
        size = 0
        for i, entry in enumerate(entries):
            size += len(entry[3]) + 64
            if size >= RECORD_TARGET or i == len(entries) - 1:
                records.append((encode_record(entries[start:i + 1]), i + 1 - start))
                start, size = i + 1, 0
        total = sum(len(r) for r, _n in records)
        if self.size + total + len(MAGIC) > self.max_bytes and self._segments:
            raise JournalFull(f"the journal is full ({self.size} of {self.max_bytes} bytes)")
        for record, count in records:
            self._append_record(record, count)
        self._maybe_sync()
        return total

    def _append_record(self, record: bytes, count: int) -> None:
        segment = self._segments[-1] if self._segments else None
        if self._fd is None or segment is None or segment.size + len(record) > self.segment_bytes \
                and segment.records:
            segment = self._new_segment()
        written = os.pwrite(self._fd, record, segment.size)
        if written != len(record):
            # A short write (disk full): cut it off so the segment stays whole.
            os.ftruncate(self._fd, segment.size)
            raise OSError(28, "short write to the journal")
        segment.size += written
        segment.records += 1
        segment.mutations += count
        self.unread_records += 1
        self.unread_mutations += count
        self.appended_records += 1
        self.appended_mutations += count
        self.appended_bytes += written

    def _new_segment(self) -> _Segment:
        if self._fd is not None:
            self._sync()
            os.close(self._fd)
            self._fd = None
        number = self._next_number
        self._next_number += 1
        path = self.dir / f"{number:012d}.seg"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, MAGIC, 0)
            _sync_dir(self.dir)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd = fd
        segment = _Segment(number, path)
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
        """The next unread record's entries and its end position (for `release`), or
        None when everything appended has been read. A record that no longer checks
        out (the disk changed under us) ends its segment, counted as torn."""
        while self._read_seg < len(self._segments):
            segment = self._segments[self._read_seg]
            if self._read_off >= segment.size:
                if segment is self._segments[-1]:
                    return None
                self._read_seg += 1
                self._read_off = len(MAGIC)
                continue
            fd = self._reader(segment)
            checked = read_record(fd, self._read_off, segment.size)
            entries = None
            if checked is not None:
                payload, count, length = checked
                try:
                    entries = decode_payload(payload, count)
                except (ValueError, IndexError, KeyError, TypeError, bson.errors.BSONError):
                    entries = None
            if entries is None:
                self.torn += 1
                self.dropped_bytes += segment.size - self._read_off
                self._forget_rest(segment)
                continue
            self._read_off += length
            segment.read_records += 1
            segment.read_mutations += count
            self.read_records += 1
            self.read_mutations += count
            self.unread_records -= 1
            self.unread_mutations -= count
            return entries, (segment.number, self._read_off)
        return None

    def _forget_rest(self, segment: _Segment) -> None:
        """Drop the unread records of a damaged segment: from the counts, and from
        the file, so that appends (to the last segment) go on after the good ones."""
        self.unread_records -= segment.records - segment.read_records
        self.unread_mutations -= segment.mutations - segment.read_mutations
        segment.records, segment.mutations = segment.read_records, segment.read_mutations
        segment.size = self._read_off
        if segment is self._segments[-1] and self._fd is not None:
            os.ftruncate(self._fd, segment.size)

    def _reader(self, segment: _Segment) -> int:
        if self._read_fd_number != segment.number:
            if self._read_fd is not None:
                os.close(self._read_fd)
            self._read_fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
            self._read_fd_number = segment.number
        return self._read_fd

    def release(self, position: tuple[int, int]) -> None:
        """Every record up to `position` (as returned by `read`) is acknowledged by the
        database: delete the segments that hold nothing else."""
        number, offset = position
        while self._segments:
            head = self._segments[0]
            last = head is self._segments[-1]
            done = head.number < number or (head.number == number and offset >= head.size)
            if not done:
                return
            if last:
                if self.unread_records:
                    return
                self._drop_all()
                return
            self._delete(head)

    def _delete(self, segment: _Segment) -> None:
        if self._read_fd_number == segment.number:
            os.close(self._read_fd)
            self._read_fd, self._read_fd_number = None, -1
        segment.path.unlink(missing_ok=True)
        self._segments.popleft()
        if self._read_seg == 0:
            # The reader had come to the end of it: on to the start of the next.
            self._read_off = len(MAGIC)
        else:
            self._read_seg -= 1

    def _drop_all(self) -> None:
        """Everything is acknowledged: the journal is empty again."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        while self._segments:
            self._delete(self._segments[0])
        self._read_seg, self._read_off = 0, len(MAGIC)

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


def read_record(fd: int, off: int, end: int):
    """(payload, mutations, record length) of the record at `off`, or None when it is
    cut short or fails its checksum."""
    if off + _HEADER.size > end:
        return None
    head = os.pread(fd, _HEADER.size, off)
    if len(head) != _HEADER.size:
        return None
    length, count, crc = _HEADER.unpack(head)
    if length > _MAX_RECORD or off + _HEADER.size + length > end:
        return None
    payload = os.pread(fd, length, off + _HEADER.size)
    if len(payload) != length or zlib.crc32(payload, zlib.crc32(head[:8])) != crc:
        return None
    return payload, count, _HEADER.size + length


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
