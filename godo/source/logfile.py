"""The file source: an audit.log (RAW or ENRICHED), plain or gzip, in large chunks."""

from __future__ import annotations

import gzip
import os

from ..errors import GodoError


class LogSource:
    """An audit.log, plain or gzip, read in large chunks."""

    CHUNK = 1 << 20

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as probe:
                magic = probe.read(2)
        except OSError as exc:
            raise GodoError(f"cannot read {path}: {exc.strerror}") from None
        self.gzip = magic == b"\x1f\x8b"
        self.size = os.path.getsize(path)

    def node(self) -> str | None:
        """The machine auditd named on the log's first line (`node=NAME type=...`,
        its name_format setting), or None: the host a replay's documents name."""
        try:
            with (gzip.open if self.gzip else open)(self.path, "rb") as f:
                first = f.readline(self.CHUNK)
        except (OSError, EOFError, gzip.BadGzipFile):
            return None  # chunks() says what is wrong with the file
        if not first.startswith(b"node="):
            return None
        name = first[5:].split(None, 1)[0] if first[5:].strip() else b""
        return name.decode("utf-8", "backslashreplace") or None

    def chunks(self):
        """The file in chunks of about CHUNK bytes. A file that fails part way (a
        gzip cut short) yields everything read before the failure, then raises
        GodoError."""
        done = 0
        try:
            if not self.gzip:
                # Unbuffered: one read(2) a chunk, straight into the bytes handed out.
                with open(self.path, "rb", buffering=0) as f:
                    while piece := f.read(self.CHUNK):
                        done += len(piece)
                        yield piece
                return
            with gzip.open(self.path, "rb") as f:
                # read1: one step of the decompressor at a time, so that what came
                # before a cut in the stream is handed out, not lost with the call.
                pending = bytearray()
                while True:
                    try:
                        piece = f.read1(self.CHUNK)
                    except (OSError, EOFError, gzip.BadGzipFile):
                        if pending:
                            done += len(pending)
                            yield bytes(pending)
                        raise
                    if piece:
                        pending += piece
                    if pending and (len(pending) >= self.CHUNK or not piece):
                        done += len(pending)
                        yield bytes(pending)
                        pending.clear()
                    if not piece:
                        return
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise GodoError(f"cannot read {self.path} after {done} bytes: {exc}") from None
