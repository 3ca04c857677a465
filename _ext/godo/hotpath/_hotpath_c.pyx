# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The hot path compiled: parse, assemble, cook, a batch at a time.

The twin of `godo/hotpath/_pipeline_py.py`, with the same names, signatures and
results. Records are read in place through C pointers (parse.pxi), an event in
flight is a C struct whose kept bytes sit in one arena (assemble.pxi), and Python
objects are made only for the activities that come out of a batch (cook.pxi).
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport qsort
from libc.string cimport memchr, memcmp, memcpy, memmove, memset

from godo_audit cimport (
    GODO_DEBUG, godo_copy16, godo_ctz, godo_dec, godo_digits, godo_field, godo_hex, godo_is_none,
    godo_key, godo_key_at, godo_needs_normpath, godo_next_kv, godo_normpath, godo_oct,
    godo_space_bits, godo_text,
)

from godo.errors import MalformedRecord
from godo.hotpath.contract import MAX_BYTES
from godo.hotpath import contract as B
from godo.vocab import calls as CALLS
from godo.vocab import kernel as K
from godo.vocab import records as R
from godo.vocab import syscalls as S

# -- the vocabulary's values, read once ---------------------------------------------

cdef int T_SYSCALL = R.SYSCALL, T_PATH = R.PATH, T_CWD = R.CWD, T_EXECVE = R.EXECVE
cdef int T_EOE = R.EOE, T_PROCTITLE = R.PROCTITLE, T_OPENAT2 = R.OPENAT2

cdef int64_t AT_FDCWD = K.AT_FDCWD
cdef uint64_t O_CREAT = K.O_CREAT
cdef uint64_t EXIT_CODE_MASK = K.EXIT_CODE_MASK
cdef Py_ssize_t NLMSGHDR_SIZE = R.NLMSGHDR_SIZE, MAX_LINE = B.MAX_LINE
cdef Py_ssize_t RECORD_COST = B.RECORD_COST, MAX_ERRORS_KEPT = B.MAX_ERRORS_KEPT

include "activity.pxi"
include "parse.pxi"
include "assemble.pxi"
include "cook_tables.pxi"
include "cook.pxi"


# -- the pipeline ---------------------------------------------------------------

cdef str _TOO_LARGE = "event too large"


cdef class Pipeline:
    """One stream of records (a log, or the live kernel's) through the stages."""

    def __cinit__(self):
        self.errors = []
        self._out = []
        self._source = ""
        self._asm = Assembler()
        self._cook = Cook()

    def __init__(self, *, window=64, max_in_flight=4096, timeout=2.0, max_bytes=MAX_BYTES):
        if window < 0 or max_in_flight < 1 or max_bytes < 1:
            raise ValueError("window must be >= 0, max_in_flight and max_bytes >= 1")
        self._asm.window = window
        self._asm.max_in_flight = max_in_flight
        self._asm.timeout = timeout
        self._asm.max_bytes = max_bytes

    def __dealloc__(self):
        PyMem_Free(self._pend)

    # -- feeding ------------------------------------------------------------

    def feed_log(self, data, source=""):
        """audit.log text (RAW or ENRICHED), in chunks of any size: a line cut at the
        end of one chunk is finished by the next."""
        cdef Py_buffer view
        cdef const char* p
        cdef const char* end
        cdef const char* nl
        cdef const char* cut  # the first 0x1d at or after p; NULL: none in the rest of the chunk
        cdef Py_ssize_t n
        if source != self._source:
            self._source = source
            self._lineno = 0
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            p = <const char*>view.buf
            end = p + view.len
            if self._npend or self._overlong:
                nl = <const char*>memchr(p, c'\n', end - p)
                if nl == NULL:
                    self._hold(p, end - p)
                    return self._batch()
                if not self._overlong and self._npend + (nl - p) > MAX_LINE:
                    self._overlong = True
                if self._overlong:
                    self._npend = 0
                    self._log_line(NULL, 0, NULL)
                else:
                    memcpy(self._pend + self._npend, p, nl - p)
                    n = self._npend + (nl - p)
                    self._npend = 0
                    self._log_line(self._pend, n, find_cut(self._pend, n))
                p = nl + 1
            # A RAW log holds no 0x1d: one search of the chunk instead of one per line.
            cut = find_cut(p, end - p)
            while p < end:
                nl = <const char*>memchr(p, c'\n', end - p)
                if nl == NULL:
                    break
                if cut != NULL and cut < p:  # it was in an earlier line
                    cut = find_cut(p, end - p)
                self._log_line(p, nl - p, cut if cut != NULL and cut < nl else NULL)
                p = nl + 1
            self._hold(p, end - p)
        finally:
            PyBuffer_Release(&view)
        return self._batch()

    cdef int _hold(self, const char* p, Py_ssize_t n) except -1:
        """Keep the unfinished last line; one that cannot fit is dropped as it comes."""
        if self._overlong or self._npend + n > MAX_LINE:
            self._overlong = True
            self._npend = 0
            return 0
        if n == 0:
            return 0
        if self._pend == NULL:
            self._pend = <char*>PyMem_Malloc(MAX_LINE + 1)
            if self._pend == NULL:
                raise MemoryError()
        memcpy(self._pend + self._npend, p, n)
        self._npend += n
        return 0

    cdef int _log_line(self, const char* p, Py_ssize_t n, const char* cut) except -1:
        """One line (`cut`: its first 0x1d, or NULL)."""
        cdef Record r
        cdef const char* why
        self._lineno += 1
        if self._overlong:
            self._overlong = False
            why = "line too long"
        elif n == 0:
            return 0
        else:
            why = read_line(p, n, cut, &r)
            if why == NULL:
                return self._file(&r, 0.0, 0)
        return self._refuse(0, why.decode("ascii"))

    def feed_frames(self, data, double now=0.0):
        """Netlink datagrams packed by a Receiver: per datagram a native u32 size,
        then the datagram as received (nlmsghdr, then the record text)."""
        cdef Py_buffer view
        cdef const char* p
        cdef const unsigned char* frame
        cdef uint32_t size
        cdef Py_ssize_t off = 0, end, n
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            p = <const char*>view.buf
            end = view.len
            while off + 4 <= end:
                memcpy(&size, p + off, 4)
                off += 4
                frame = <const unsigned char*>p + off
                n = min(<Py_ssize_t>size, end - off)
                off += size
                self._frames += 1
                if n < NLMSGHDR_SIZE:
                    self._refuse(self._frames, "short datagram")
                    continue
                self._record(frame[4] | frame[5] << 8, <const char*>frame + NLMSGHDR_SIZE,
                             n - NLMSGHDR_SIZE, now, self._frames)
        finally:
            PyBuffer_Release(&view)
        return self._batch()

    cdef int _record(self, int rtype, const char* data, Py_ssize_t n, double now,
                     long long frame) except -1:
        cdef Record r
        cdef const char* why = read_record(rtype, data, n, find_cut(data, n), &r)
        if why != NULL:
            return self._refuse(frame, why.decode("ascii"))
        return self._file(&r, now, frame)

    cdef int _file(self, Record* r, double now, long long frame) except -1:
        cdef int refused = self._asm.add(r, now)
        # What the record completed (evicted to make room) came first.
        if self._asm.ndone:
            self._cook_done()
        if refused:
            self._refuse(frame, _TOO_LARGE)
        return 0

    def expire(self, double now):
        """Complete live events whose EOE has not come within the time-out."""
        self._asm.expire(now)
        self._cook_done()
        return self._batch()

    def flush(self):
        """End of input: every event in flight is complete; a cut last line is read."""
        cdef Py_ssize_t n
        if self._npend or self._overlong:
            n = self._npend
            self._npend = 0
            self._log_line(self._pend, n, find_cut(self._pend, n))
        self._asm.flush()
        self._cook_done()
        return self._batch()

    cdef int _cook_done(self) except -1:
        """Cook the events that just completed, in order; their memory given back.
        Each record's completions are cooked before the next record is read, so
        errors are told in the order they happen however a batch was cut."""
        cdef Assembler asm = self._asm
        cdef Event* ev
        cdef Py_ssize_t i = 0
        try:
            while i < asm.ndone:
                ev = asm.done[i]
                i += 1
                if ev.has_syscall and self._cook.cook(ev, self._out):
                    self._bad(f"event {ev.serial}", "cannot cook: " + self._cook.why)
        finally:
            for i in range(asm.ndone):
                asm.release(asm.done[i])
            asm.ndone = 0
        return 0

    cdef list _batch(self):
        """The activities cooked since the last batch was handed out."""
        cdef list out = self._out
        self._out = []
        self.activities += len(out)
        return out

    # -- errors -------------------------------------------------------------

    cdef int _bad(self, object where, object why) except -1:
        """Count a malformed record or event, and keep the first errors."""
        self.malformed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((where, why))
        return 0

    cdef int _refuse(self, long long frame, object why) except -1:
        """A malformed or refused record: datagram `frame`, or 0 for the log line
        being read."""
        if len(self.errors) >= MAX_ERRORS_KEPT:
            self.malformed += 1
            return 0
        if frame:
            return self._bad(f"netlink datagram {frame}", why)
        return self._bad(f"{self._source or 'log'}:{self._lineno}", why)

    # -- settings and figures -------------------------------------------------

    # Settings stay valid: the assembler's arithmetic relies on them.
    @property
    def window(self):
        return self._asm.window

    @window.setter
    def window(self, value):
        if value < 0:
            raise ValueError("window must be >= 0")
        self._asm.window = value

    @property
    def max_in_flight(self):
        return self._asm.max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value):
        if value < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._asm.max_in_flight = value

    @property
    def max_bytes(self):
        return self._asm.max_bytes

    @max_bytes.setter
    def max_bytes(self, value):
        if value < 1:
            raise ValueError("max_bytes must be >= 1")
        self._asm.max_bytes = value

    @property
    def timeout(self):
        return self._asm.timeout

    @timeout.setter
    def timeout(self, value):
        self._asm.timeout = value

    @property
    def records(self):
        return self._asm.records

    @property
    def events(self):
        return self._asm.events

    @property
    def evicted(self):
        return self._asm.evicted

    @property
    def in_flight(self):
        return self._asm.nlive

    @property
    def serial_gaps(self):
        return self._asm.serial_gaps

    def stats(self) -> dict:
        return {"records": self.records, "events": self.events, "activities": self.activities,
                "malformed": self.malformed, "serial_gaps": self.serial_gaps,
                "evicted": self.evicted, "in_flight": self._asm.nlive}


def _normalise(path):
    """The compiled normalise() on a str, for the tests that pin it to posixpath."""
    cdef bytes raw = path.encode("utf-8", "surrogateescape")
    cdef bytearray out = bytearray(len(raw) + 1)
    cdef Py_ssize_t n = len(raw)
    if not godo_needs_normpath(raw, n):
        return path
    n = godo_normpath(raw, n, out)
    return bytes(out[:n]).decode("utf-8", "surrogateescape")
