"""Reading a spill journal as it is on disk, without opening it as a store would
(which cuts a damaged tail off)."""

from __future__ import annotations

import os
from pathlib import Path

from godo.store.journal import MAGIC, SEGMENT, decode_payload, read_record


def read_all(directory: str | os.PathLike) -> list:
    """Every entry a journal directory holds, in order, without changing it."""
    out = []
    for name in sorted(os.listdir(directory)):
        if not SEGMENT.match(name):
            continue
        path = Path(directory) / name
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if os.pread(fd, len(MAGIC), 0) != MAGIC:
                continue
            off = len(MAGIC)
            while off < size:
                checked = read_record(fd, off, size)
                if checked is None:
                    break
                payload, count, length = checked
                out.extend(decode_payload(payload, count))
                off += length
        finally:
            os.close(fd)
    return out
