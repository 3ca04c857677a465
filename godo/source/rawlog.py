"""Write received netlink frames as audit.log RAW lines (`godo record --raw-log`,
the benchmark corpus and the golden fixtures all keep records this way), into a
file rotated as auditd rotates its own (`RawLog`)."""

from __future__ import annotations

import os
import struct

from ..vocab.records import EOE, NLMSGHDR_SIZE, TYPE_NAMES

_SIZE = struct.Struct("=I")
_NAMES = {number: name.encode() for number, name in TYPE_NAMES.items()}


def frames_to_lines(batch: bytes, *, keep_eoe: bool = False) -> bytes:
    """Packed frames -> `type=NAME msg=audit(...): ...` lines. auditd does not
    write EOE to its log; neither does this unless asked."""
    out = []
    off, end = 0, len(batch)
    while off + 4 <= end:
        (size,) = _SIZE.unpack_from(batch, off)
        frame = batch[off + 4:off + 4 + size]
        off += 4 + size
        if len(frame) < NLMSGHDR_SIZE:
            continue
        rtype = frame[4] | frame[5] << 8
        if rtype == EOE and not keep_eoe:
            continue
        name = _NAMES.get(rtype) or b"UNKNOWN[%d]" % rtype
        body = frame[NLMSGHDR_SIZE:].rstrip(b"\0\n")
        out.append(b"type=%s msg=%s\n" % (name, body))
    return b"".join(out)


class RawLog:
    """The raw log `godo record --raw-log FILE` appends to, rotated as auditd
    rotates audit.log.

    `keep` is auditd's `num_logs`: the files kept, the one written included, so
    FILE, FILE.1 ... FILE.(keep-1); below 2 nothing is rotated. A rotation (asked
    by `request_rotate`, which SIGUSR1 calls as it does auditd's, or due when the
    file passes `max_bytes`, auditd's `max_log_file`; 0: never by size) renames
    FILE.(n-1) to FILE.n down to FILE to FILE.1, the oldest falling off, and
    opens a new FILE. When FILE is no longer the file godo writes (logrotate moved
    it before signalling), nothing is renamed: godo only opens FILE anew, so the
    two ways of rotating never shift each other's files. `request_reopen` (a
    daemon's SIGHUP) closes and reopens FILE, renaming nothing.

    The signal handlers only set a flag: the rotation happens before the next
    write, on the thread that writes."""

    def __init__(self, path: str, *, keep: int = 0, max_bytes: int = 0):
        self.path = path
        self.keep = keep
        self.max_bytes = max_bytes
        self.rotations = 0
        self._rotate = self._reopen = False
        self._file = None
        self._open()

    def _open(self) -> None:
        self._file = open(self.path, "ab")
        self._size = self._file.tell()

    def request_rotate(self) -> None:
        self._rotate = True

    def request_reopen(self) -> None:
        self._reopen = True

    def write(self, lines: bytes) -> None:
        if self._rotate or self._reopen or (self.max_bytes and self._size >= self.max_bytes
                                            and self.keep >= 2):
            self._turn()
        self._file.write(lines)
        self._size += len(lines)

    def _turn(self) -> None:
        rotate = (self._rotate or not self._reopen) and self.keep >= 2
        self._rotate = self._reopen = False
        ours = os.fstat(self._file.fileno())
        self._file.close()
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            at_path = None
        if rotate and at_path is not None and (at_path.st_dev, at_path.st_ino) == (ours.st_dev, ours.st_ino):
            for n in range(self.keep - 1, 1, -1):
                older = f"{self.path}.{n - 1}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n}")
            os.replace(self.path, f"{self.path}.1")
            self.rotations += 1
        self._open()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
