"""The file source: an audit.log (RAW or ENRICHED), plain or gzip, in large chunks.

The log is opened once and read once, front to back, with no seek and no second
open: a FIFO, a process substitution (`<(cat audit.log)`, /dev/fd/63) or
/dev/stdin can be read only that way. Whether it is gzip, and the node auditd
named on its first line, come from the first bytes read, which are then handed
out as the first chunk.
"""

from __future__ import annotations

import os
import stat

from ..errors import GodoError

_GZIP_MAGIC = b"\x1f\x8b"
# What a read can raise; gzip's BadGzipFile is an OSError. gzip itself is imported
# only for a gzip log: most logs are plain, and it is a start-up cost.
_READ_ERRORS = (OSError, EOFError)


class _Rest:
    """The bytes already read from the head of a stream, then the rest of it: what
    GzipFile reads a stream through once its magic has been looked at."""

    def __init__(self, head: bytes, raw):
        self._head = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            piece = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(piece):]
            return piece
        return self._raw.read(size)


class LogSource:
    """An audit.log, plain or gzip, read in large chunks; see the module. Opening
    it is the only check made before the store opens (a missing or unreadable
    file is said then); reading starts at `node()` or `chunks()`."""

    # A quarter MiB: a chunk's text, and the activities cooked from it, are still in
    # a core's L2 cache (1 MiB here) when the tracker takes them. 1 MiB chunks cost
    # a replay of the benchmark corpus 3% more CPU (benchmarks/README.md).
    CHUNK = 1 << 18

    def __init__(self, path: str):
        self.path = path
        try:
            self._file = open(path, "rb", buffering=0)
            st = os.fstat(self._file.fileno())
        except OSError as exc:
            raise GodoError(f"cannot read {path}: {exc.strerror}") from None
        self.regular = stat.S_ISREG(st.st_mode)
        # A pipe or a terminal has no size: no progress bar for it.
        self.size = st.st_size if self.regular else 0
        self._raw_head: bytes | None = None     # the first bytes read from the file
        self._text = None                       # the generator of text chunks
        self._first: bytes | None = None        # a text chunk read ahead by node()
        self._error: GodoError | None = None    # what reading ahead ran into
        self.done = 0                           # text bytes handed out

    @property
    def gzip(self) -> bool:
        return self._head().startswith(_GZIP_MAGIC)

    def uncompressed_size(self) -> int | None:
        """What a regular gzip file's trailer says it holds (mod 4 GiB, last member),
        read without moving the file's position; None when unknown."""
        if not self.regular or not self.gzip or self.size < 4:
            return None
        try:
            return int.from_bytes(os.pread(self._file.fileno(), 4, self.size - 4), "little") or None
        except OSError:
            return None

    def _head(self) -> bytes:
        """The first bytes of the file (at least two, unless it is shorter), read once."""
        if self._raw_head is None:
            head = b""
            try:
                while len(head) < 2:
                    piece = self._file.read(self.CHUNK)
                    if not piece:
                        break
                    head += piece
            except OSError as exc:
                self._error = GodoError(f"cannot read {self.path}: {exc.strerror}")
            self._raw_head = head
        return self._raw_head

    def node(self) -> str | None:
        """The machine auditd named on the log's first line (`node=NAME type=...`,
        its name_format setting), or None: the host a replay's documents name."""
        if self._first is None and self._error is None:
            try:
                self._first = next(self._chunks(), b"")
            except GodoError as exc:
                self._first, self._error = b"", exc  # chunks() says it, in its turn
        first = (self._first or b"").split(b"\n", 1)[0]
        if not first.startswith(b"node="):
            return None
        name = first[5:].split(None, 1)[0] if first[5:].strip() else b""
        return name.decode("utf-8", "backslashreplace") or None

    def chunks(self):
        """The file in chunks of about CHUNK bytes, once. A file that fails part way
        (a gzip cut short) yields everything read before the failure, then raises
        GodoError."""
        try:
            if self._first:
                first, self._first = self._first, b""
                yield first
            if self._error is not None:
                raise self._error
            yield from self._chunks()
        finally:
            self.close()

    def _chunks(self):
        if self._text is None:
            self._text = self._read()
        return self._text

    def _read(self):
        head = self._head()
        if self._error is not None:
            raise self._error
        try:
            if not head.startswith(_GZIP_MAGIC):
                # Unbuffered: one read(2) a chunk, straight into the bytes handed out.
                piece = head
                while piece:
                    self.done += len(piece)
                    yield piece
                    piece = self._file.read(self.CHUNK)
                return
            import gzip
            with gzip.GzipFile(fileobj=_Rest(head, self._file), mode="rb") as f:
                # read1: one step of the decompressor at a time, so that what came
                # before a cut in the stream is handed out, not lost with the call.
                pending = bytearray()
                while True:
                    try:
                        piece = f.read1(self.CHUNK)
                    except _READ_ERRORS:
                        if pending:
                            self.done += len(pending)
                            yield bytes(pending)
                        raise
                    if piece:
                        pending += piece
                    if pending and (len(pending) >= self.CHUNK or not piece):
                        self.done += len(pending)
                        yield bytes(pending)
                        pending.clear()
                    if not piece:
                        return
        except _READ_ERRORS as exc:
            raise GodoError(f"cannot read {self.path} after {self.done} bytes: {exc}") from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
