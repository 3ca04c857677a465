"""Where a database's spill journal lives, and which godo holds it: one directory
per database, named from the identity godo keeps in that database (a batch
journaled for one is replayed into it through whatever URI reaches it, and never
into another), locked by the godo that writes it. A directory of the naming
before (from the URI's host list) is moved under the new name at start."""

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


# The collection holding the database's identity: one document, made by the
# first godo that writes there.
IDENTITY = "godo_store"


def store_identity(db) -> str:
    """The identity of the database `db` (a pymongo Database): a random id the
    first godo to write there gives it, kept in it. The same through any URI or
    front-end that reaches it, and another for any other database."""
    from pymongo.errors import DuplicateKeyError
    found = db[IDENTITY].find_one({"_id": "identity"})
    if found is None:
        try:
            db[IDENTITY].insert_one({"_id": "identity", "id": os.urandom(16).hex()})
        except DuplicateKeyError:
            pass    # another godo made it meanwhile: its id is the one
        found = db[IDENTITY].find_one({"_id": "identity"})
    return found["id"]


def journal_dir_for(data_dir: str | os.PathLike, identity: str) -> Path:
    """Where the spill journal for the database of this identity lives: its
    batches go to that database, whatever URI reaches it next (another front-end,
    another spelling), and never to another."""
    return Path(data_dir) / "journal" / hashlib.sha256(f"store/{identity}".encode()).hexdigest()[:16]


def legacy_journal_dir(data_dir: str | os.PathLike, uri: str | None, database: str) -> Path:
    """Where godo kept that journal before it knew the database's identity: named
    from the URI's host list (or `embedded`) and the database."""
    target = f"embedded/{database}" if uri is None else f"{uri_parts(uri).hosts}/{database}"
    return Path(data_dir) / "journal" / hashlib.sha256(target.encode()).hexdigest()[:16]


def journal_dir_of(data_dir: str | os.PathLike, db, legacy: Path | None = None) -> Path:
    """The journal directory for the database `db`, with what an earlier godo
    left under the `legacy` name moved into it first (see `adopt`)."""
    base = journal_dir_for(data_dir, store_identity(db))
    if legacy is not None and legacy != base:
        adopt(legacy, base)
    return base


def adopt(legacy: Path, base: Path) -> list[Path]:
    """Move the journals of the old naming (`legacy` and the directories beside it)
    that hold segments to free places beside `base`, where `open_journal` finds
    them; one another godo holds is left (that godo drains it). The moved ones."""
    moved = []
    free = (path for path in _candidates(base) if not path.exists())
    for old in _candidates(legacy):
        if not old.is_dir():
            continue
        lock = _try_lock(old)
        if lock is None:
            continue
        try:
            if not any(SEGMENT.match(name) for name in os.listdir(old)):
                continue
            for new in free:
                try:
                    os.rename(old, new)   # with its lock: a godo waiting on it finds it gone
                except OSError:
                    continue    # made meanwhile by another godo: the next place
                moved.append(new)
                break
        finally:
            os.close(lock)
    return moved


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
