"""The spill journal's bytes: how a record and a segment's head are framed and
checked, read back, and resynchronised on after damage (see store/journal.py for
the layout). Both formats: godo's first (`OLD_MAGIC`), read only, and today's."""

from __future__ import annotations

import os
import struct
import zlib

import bson

MAGIC = b"GODOJNL2"
OLD_MAGIC = b"GODOJNL1"         # godo's first format: read, never written
RECORD_MAGIC = b"GJR2"
SEGMENT_HEAD = struct.Struct("<8sQI")           # magic, first sequence number, crc
_HEAD = struct.Struct("<4sIIQI")                # magic, length, documents, sequence, head crc
HEADER_SIZE = _HEAD.size + 4                    # and the payload's crc
OLD_HEADER = struct.Struct("<III")              # length, documents, crc of both and the payload
_OLD_SYNC = b"\x04c\x00"                         # the payload's BSON head: its first element, "c"
MAX_RECORD = 64 << 20                           # a payload longer than this is damage, not data


def encode_record(entries: list, seq: int = 0) -> bytes:
    """One record (header and payload) holding `entries`, the first of which is
    document number `seq` of its journal."""
    head = bson.encode({"c": [e[0] for e in entries], "i": [e[1] for e in entries]})
    payload = b"".join([head, *(e[3] for e in entries)])
    front = struct.pack("<4sIIQ", RECORD_MAGIC, len(payload), len(entries), seq)
    return b"".join([front, struct.pack("<II", zlib.crc32(front), zlib.crc32(payload)), payload])


def segment_head(seq: int) -> bytes:
    front = struct.pack("<8sQ", MAGIC, seq)
    return front + struct.pack("<I", zlib.crc32(front))


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


class _Found:
    """A record as its header says (`checked`: its payload checks out too)."""
    __slots__ = ("offset", "length", "count", "seq", "checked")

    def __init__(self, offset, length, count, seq, checked):
        self.offset, self.length, self.count, self.seq, self.checked = (
            offset, length, count, seq, checked)


def record_at(data, off: int, end: int, old: bool) -> _Found | None:
    """The record at `off` of `data` (bytes or an mmap), or None when not even its
    header checks out. Its whole length, header included, is `length`."""
    if old:
        if off + OLD_HEADER.size > end:
            return None
        length, count, crc = OLD_HEADER.unpack_from(data, off)
        total = OLD_HEADER.size + length
        if length > MAX_RECORD or off + total > end:
            return None
        ok = zlib.crc32(data[off + 12:off + total], zlib.crc32(data[off:off + 8])) == crc
        # No header checksum in this format: a header is trusted only with its payload.
        return _Found(off, total, count, None, True) if ok else None
    if off + HEADER_SIZE > end:
        return None
    magic, length, count, seq, head_crc = _HEAD.unpack_from(data, off)
    if magic != RECORD_MAGIC or zlib.crc32(data[off:off + 20]) != head_crc:
        return None
    total = HEADER_SIZE + length
    if length > MAX_RECORD:
        return None
    (crc,) = struct.unpack_from("<I", data, off + _HEAD.size)
    ok = off + total <= end and zlib.crc32(data[off + HEADER_SIZE:off + total]) == crc
    return _Found(off, total, count, seq, ok)


def next_record(data, off: int, end: int, old: bool) -> _Found | None:
    """The first record at or after `off` that checks out whole (resynchronising on
    the record magic, or on the old format's payload head), or None."""
    sync, back = (_OLD_SYNC, OLD_HEADER.size + 4) if old else (RECORD_MAGIC, 0)
    pos = off + back
    while True:
        pos = data.find(sync, pos, end)
        if pos < 0:
            return None
        found = record_at(data, pos - back, end, old)
        if found is not None and found.checked:
            return found
        pos += 1


def damaged_records(data, off: int, end: int, old: bool) -> tuple[int, int, int]:
    """What a damaged stretch [off, end) held, as far as its headers tell: (records
    whose header checks out, their documents, records of unknown size)."""
    if old:
        # No header checksum: a header is believed when its length ends the stretch.
        if end - off >= OLD_HEADER.size:
            length, count, _crc = OLD_HEADER.unpack_from(data, off)
            if off + OLD_HEADER.size + length == end:
                return 1, count, 0
        return 0, 0, 1
    records = documents = unknown = 0
    pos = off
    while pos < end:
        found = record_at(data, pos, end, False)
        if found is None:
            unknown += 1
            pos = data.find(RECORD_MAGIC, pos + 1, end)
            if pos < 0:
                break
            continue
        records += 1
        documents += found.count
        pos += found.length
    return records, documents, unknown


def read_record(fd: int, off: int, end: int, old: bool = False):
    """(payload, documents, record length) of the record at `off` of a segment
    file, or None when it is cut short or fails its checksums."""
    data = os.pread(fd, min(end - off, MAX_RECORD + HEADER_SIZE), off)
    found = record_at(data, 0, len(data), old)
    if found is None or not found.checked:
        return None
    start = OLD_HEADER.size if old else HEADER_SIZE
    return data[start:found.length], found.count, found.length
