"""Reading a spill journal as it is on disk, without opening it as a store would,
and writing one in godo's first format (to check it is still read)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import bson

from godo.store.journal import MAGIC, OLD_MAGIC, SEGMENT, decode_payload, read_record


def read_all(directory: str | os.PathLike) -> list:
    """Every entry a journal directory holds in records that check out, in order,
    without changing it."""
    out = []
    for name in sorted(os.listdir(directory)):
        if not SEGMENT.match(name):
            continue
        path = Path(directory) / name
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            magic = os.pread(fd, len(MAGIC), 0)
            if magic not in (MAGIC, OLD_MAGIC):
                continue
            old = magic == OLD_MAGIC
            off = len(OLD_MAGIC) if old else 20
            while off < size:
                checked = read_record(fd, off, size, old)
                if checked is None:
                    break
                payload, count, length = checked
                out.extend(decode_payload(payload, count))
                off += length
        finally:
            os.close(fd)
    return out


def old_record(entries: list) -> bytes:
    """A record as godo's first journal format wrote it: u32 length, u32 documents,
    u32 crc32 of those 8 bytes and the payload; no record magic, no sequence number."""
    head = bson.encode({"c": [e[0] for e in entries], "i": [e[1] for e in entries]})
    payload = b"".join([head, *(e[3] for e in entries)])
    lengths = struct.pack("<II", len(payload), len(entries))
    return lengths + struct.pack("<I", zlib.crc32(payload, zlib.crc32(lengths))) + payload


def write_old_segment(path: Path, batches: list) -> list[int]:
    """A segment of the first format holding `batches`; the offset of each record."""
    offsets, data = [], bytearray(OLD_MAGIC)
    for batch in batches:
        offsets.append(len(data))
        data += old_record(batch)
    path.write_bytes(bytes(data))
    return offsets
