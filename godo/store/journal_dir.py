"""Where a database's spill journal lives, and which godo holds it: one directory
per database (a batch journaled for one is never replayed into another), locked
by the godo that writes it."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from ..errors import StoreError
from ..paths import check_private_dir, open_private
from .uri import uri_parts
from .journal import DAMAGED, SEGMENT, Journal, JournalError


def _candidates(base: Path) -> list[Path]:
    return [base] + [base.with_name(f"{base.name}.{i}") for i in range(2, 9)]


def journal_state(data_dir: str | os.PathLike) -> dict:
    """What waits in the spill journals under a data directory, read from the disk
    as it is (nothing is opened for writing, locked or made): segments and bytes
    waiting for the database, and segments kept aside as damaged, per journal."""
    root = Path(data_dir) / "journal"
    journals = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        entries = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        waiting = _files(Path(entry.path), SEGMENT.match)
        damaged = _files(Path(entry.path) / DAMAGED, lambda name: True)
        if waiting[0] or damaged[0]:
            journals.append({"dir": entry.path, "segments": waiting[0], "bytes": waiting[1],
                             "damaged_segments": damaged[0], "damaged_bytes": damaged[1],
                             "damaged_dir": str(Path(entry.path) / DAMAGED)})
    return {"segments": sum(j["segments"] for j in journals),
            "bytes": sum(j["bytes"] for j in journals),
            "damaged_segments": sum(j["damaged_segments"] for j in journals),
            "damaged_bytes": sum(j["damaged_bytes"] for j in journals), "journals": journals}


def _files(directory: Path, wanted) -> tuple[int, int]:
    """(count, bytes) of the regular files in `directory` whose names are `wanted`."""
    count = size = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0, 0
    for entry in entries:
        if wanted(entry.name) and entry.is_file(follow_symlinks=False):
            count += 1
            size += entry.stat(follow_symlinks=False).st_size
    return count, size


def _try_lock(path: Path) -> int | None:
    """An flock on `path/lock` (the directory made 0700), or None if another holds it."""
    check_private_dir(path.parent, "journal directory", parents=True)
    check_private_dir(path, "journal directory")
    fd = open_private(path / "lock", os.O_RDWR | os.O_CREAT, "the spill journal's lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def journal_dir_for(data_dir: str | os.PathLike, uri: str | None, database: str) -> Path:
    """Where the spill journal for one database lives: a batch journaled for one
    database is never replayed into another. The name holds no credentials."""
    if uri is None:
        target = f"embedded/{database}"
    else:
        target = f"{uri_parts(uri).hosts}/{database}"
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    return Path(data_dir) / "journal" / digest


def open_journal(base: Path, *, max_bytes: int, fsync_interval: float | None) -> tuple[Journal, int]:
    """The journal in the first directory beside `base` that no other godo holds,
    preferring one an earlier run left batches in, and the lock that holds it."""
    chosen = None
    for path in _candidates(base):
        if chosen is not None and not path.is_dir():
            continue        # made only when needed: every earlier one was held
        lock = _try_lock(path)
        if lock is None:
            continue
        if any(SEGMENT.match(name) for name in os.listdir(path)):
            if chosen is not None:
                os.close(chosen[1])
            chosen = (path, lock)
            break
        if chosen is None:
            chosen = (path, lock)
        else:
            os.close(lock)
    if chosen is None:
        raise StoreError(f"every journal directory beside {base} is in use by another godo")
    path, lock = chosen
    try:
        journal = Journal(path, max_bytes=max_bytes, fsync_interval=fsync_interval)
    except (JournalError, OSError) as exc:
        os.close(lock)
        raise StoreError(f"cannot use the spill journal: {exc}") from None
    return journal, lock
