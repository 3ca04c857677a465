# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The hot path compiled: parse records, assemble events, cook activities.

The twin of `godo/_hotpath_py.py`, which defines the contract: the same names,
signatures and results. Records are read in place through C pointers, an event
in flight is a C struct whose kept bytes sit in one arena, and Python objects are
made only for the activities that come out of a batch.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport qsort
from libc.string cimport memchr, memcmp, memcpy, memmove, memset

from godo_audit cimport (
    GODO_DEBUG, godo_dec, godo_digits, godo_field, godo_hex, godo_is_none, godo_needs_normpath,
    godo_next_kv, godo_normpath, godo_oct, godo_text,
)

from godo import _records as R
from godo import syscalls as S
from godo.errors import MalformedRecord

# -- the shared tables, read from the Python modules once --------------------

cdef int T_SYSCALL = R.SYSCALL, T_PATH = R.PATH, T_CWD = R.CWD, T_EXECVE = R.EXECVE
cdef int T_EOE = R.EOE, T_PROCTITLE = R.PROCTITLE, T_OPENAT2 = R.OPENAT2

cdef int64_t AT_FDCWD = R.AT_FDCWD
cdef uint64_t CLONE_THREAD = R.CLONE_THREAD, CLOSE_RANGE_CLOEXEC = R.CLOSE_RANGE_CLOEXEC
cdef uint64_t O_WRONLY = R.O_WRONLY, O_CREAT = R.O_CREAT, O_TRUNC = R.O_TRUNC
cdef uint64_t O_CLOEXEC = R.O_CLOEXEC, O_TMPFILE = R.O_TMPFILE
cdef Py_ssize_t NLMSGHDR_SIZE = R.NLMSGHDR_SIZE, MAX_LINE = R.MAX_LINE
cdef Py_ssize_t RECORD_COST = R.RECORD_COST, MAX_ERRORS_KEPT = R.MAX_ERRORS_KEPT

cdef int C_SPAWN_CLONE = S.SPAWN_CLONE, C_SPAWN_CLONE3 = S.SPAWN_CLONE3, C_SPAWN_FORK = S.SPAWN_FORK
cdef int C_EXEC = S.EXEC, C_EXEC_AT = S.EXEC_AT, C_EXIT = S.EXIT, C_EXIT_GROUP = S.EXIT_GROUP
cdef int C_OPEN = S.OPEN, C_OPEN_AT = S.OPEN_AT, C_OPEN_AT2 = S.OPEN_AT2, C_CREAT = S.CREAT
cdef int C_WRITE = S.WRITE, C_WRITE_A2 = S.WRITE_A2, C_CLOSE = S.CLOSE, C_CLOSE_RANGE = S.CLOSE_RANGE
cdef int C_DUP = S.DUP, C_DUP2 = S.DUP2, C_DUP3 = S.DUP3, C_FCNTL = S.FCNTL
cdef int C_PIVOT_ROOT = S.PIVOT_ROOT, C_CHDIR = S.CHDIR, C_FCHDIR = S.FCHDIR
cdef int C_RENAME = S.RENAME, C_RENAME_AT = S.RENAME_AT, C_UNLINK = S.UNLINK, C_UNLINK_AT = S.UNLINK_AT
cdef int C_KILL = S.KILL, C_TKILL = S.TKILL, C_TGKILL = S.TGKILL
cdef int64_t F_DUPFD = S.F_DUPFD, F_SETFD = S.F_SETFD, F_DUPFD_CLOEXEC = S.F_DUPFD_CLOEXEC

_FIELD_NAMES = ("arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3",
                "pid", "ppid", "uid", "auid", "comm", "exe")
cdef tuple _MISSING = tuple(f"no {name}" for name in _FIELD_NAMES)
cdef tuple _NOT_NUMBER = tuple(f"{name} is not a number" for name in _FIELD_NAMES)
cdef tuple _NOT_HEX = tuple(f"{name} is not hex" for name in _FIELD_NAMES)


# Record type names: an open-addressed table, so a line's `type=NAME` is found
# without making a bytes object.
cdef enum:
    TYPE_SLOTS = 512
    TYPE_NAME_MAX = 31
    MULTI_TABLE = 65536
    TEXT_CACHE = 128
    POOL_KEEP = 64
    ARENA_KEEP = 65536
    ARRAY_KEEP = 64

ctypedef struct TypeName:
    int number  # 0: empty slot (record types are positive)
    Py_ssize_t len
    char name[TYPE_NAME_MAX + 1]

cdef TypeName _types[TYPE_SLOTS]
cdef unsigned char _multi[MULTI_TABLE]


cdef inline uint32_t _hash(const char* s, Py_ssize_t n) noexcept nogil:
    cdef uint32_t h = 2166136261u
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <unsigned char>s[i]) * 16777619u
    return h


cdef int _init_types() except -1:
    cdef bytes raw
    cdef uint32_t h
    for number, name in R.TYPE_NAMES.items():
        raw = name.encode()
        if len(raw) > TYPE_NAME_MAX or number <= 0:
            raise ValueError(f"record type {name!r} does not fit the compiled table")
        h = _hash(raw, len(raw)) % TYPE_SLOTS
        while _types[h].number:
            h = (h + 1) % TYPE_SLOTS
        _types[h].number = number
        _types[h].len = len(raw)
        memcpy(_types[h].name, <const char*>raw, len(raw))
    for number in range(MULTI_TABLE):
        _multi[number] = bool(R.is_multi_record(number))
    return 0


_init_types()


cdef int _type_number(const char* s, Py_ssize_t n) noexcept:
    """R.type_number(): a known name, or UNKNOWN[digits]; -1 for neither."""
    cdef uint32_t h
    cdef int64_t number
    if 0 < n <= TYPE_NAME_MAX:
        h = _hash(s, n) % TYPE_SLOTS
        while _types[h].number:
            if _types[h].len == n and memcmp(_types[h].name, s, n) == 0:
                return _types[h].number
            h = (h + 1) % TYPE_SLOTS
    if n > 9 and memcmp(s, b"UNKNOWN[", 8) == 0 and s[n - 1] == c']':
        if godo_digits(s + 8, n - 9, 9, &number) == 0:
            return <int>number
    return -1


cdef inline bint _is_multi(int rtype) except -1:
    if 0 <= rtype < MULTI_TABLE:
        return _multi[rtype]
    return bool(R.is_multi_record(rtype))


cdef class _ArchTable:
    """One architecture's syscall numbers -> (cook code, name), from S.table()."""

    def __cinit__(self, uint64_t arch):
        cdef dict table = S.table(arch)
        self.arch = arch
        self.size = max(table) + 1 if table else 0
        self.names = [None] * self.size
        self.codes = <int*>PyMem_Malloc(max(self.size, 1) * sizeof(int))
        if self.codes == NULL:
            raise MemoryError()
        memset(self.codes, 0, max(self.size, 1) * sizeof(int))
        for number, (name, code) in table.items():
            if code <= 0:
                raise ValueError(f"cook code {code} of {name} must be positive")
            self.codes[number] = code
            self.names[number] = name

    def __dealloc__(self):
        PyMem_Free(self.codes)


# -- values -------------------------------------------------------------------

cdef object _text_str(const char* s, Py_ssize_t n, char* scratch):
    """_str(_text(raw)); scratch has room for n // 2 bytes."""
    cdef const char* out
    cdef Py_ssize_t outn
    if not godo_text(s, n, scratch, &out, &outn):
        return None
    return PyUnicode_DecodeUTF8(out, outn, "backslashreplace")


cdef class _TextCache:
    """The last raw value of a field and its str: comm and exe repeat record
    after record, so most activities share the str instead of decoding again."""

    def __cinit__(self):
        self.len = -1

    cdef object get(self, const char* s, Py_ssize_t n, char* scratch):
        if n == self.len and memcmp(s, self.raw, n) == 0:
            return self.value
        value = _text_str(s, n, scratch)
        if n <= TEXT_CACHE:
            memcpy(self.raw, s, n)
            self.len = n
            self.value = value
        return value


cdef class _TitleCache:
    def __cinit__(self):
        self.len = -1


ctypedef struct Header:
    int64_t sec
    int64_t ms
    int64_t serial
    const char* body
    Py_ssize_t nbody


cdef inline bint _digits_then(const char** pos, const char* end, char sep, int64_t* out) noexcept:
    """[0-9]{1,15} then `sep` at *pos: the value, and *pos past `sep`."""
    cdef const char* q = pos[0]
    cdef uint64_t value = 0
    cdef unsigned digit
    while q < end:
        digit = <unsigned char>q[0] - c'0'
        if digit > 9:
            break
        value = value * 10 + digit
        q += 1
    if q == pos[0] or q - pos[0] > 15 or q >= end or q[0] != sep:
        return False
    out[0] = <int64_t>value
    pos[0] = q + 1
    return True


cdef const char* _split_header(const char* p, Py_ssize_t n, Header* h) noexcept:
    """`audit(SEC.MS:SERIAL): body` -> h; NULL, or why it is malformed."""
    cdef const char* end = p + n
    cdef const char* q
    cdef const char* body
    cdef const char* cut
    if n < 6 or memcmp(p, b"audit(", 6) != 0:
        return "no audit( stamp"
    q = p + 6
    # One pass over the stamp. It holds no ')', so when it reads, its "):" is the
    # first one; when it does not, the first "):" only decides which error.
    if not (_digits_then(&q, end, c'.', &h.sec) and _digits_then(&q, end, c':', &h.ms)
            and _digits_then(&q, end, c')', &h.serial) and q < end and q[0] == c':'):
        q = p + 6
        while q < end:
            q = <const char*>memchr(q, c')', end - q)
            if q == NULL or q + 1 >= end:
                break
            if q[1] == c':':
                return "bad audit( stamp"
            q += 1
        return "unterminated audit( stamp"
    body = q + 1
    cut = <const char*>memchr(body, 0x1d, end - body)  # ENRICHED fields follow 0x1d
    if cut != NULL:
        end = cut
    while body < end and (body[0] == c' ' or body[0] == c'\n' or body[0] == 0):
        body += 1
    while end > body and ((end - 1)[0] == c' ' or (end - 1)[0] == c'\n' or (end - 1)[0] == 0):
        end -= 1
    h.body = body
    h.nbody = end - body
    return NULL


cdef inline double _ts(const Header* h) noexcept:
    # Both parts are below 2**53, where Python's `sec + ms / 1000` rounds exactly
    # as these doubles do.
    return <double>h.sec + <double>h.ms / 1000.0


cdef const char* _split_log_line(const char* p, Py_ssize_t n, int* rtype,
                                 const char** rest, Py_ssize_t* nrest) noexcept:
    """`type=NAME msg=audit(...)` -> the type number and the rest from audit(."""
    cdef const char* space
    cdef const char* r
    if n < 5 or memcmp(p, b"type=", 5) != 0:
        return "line does not start with type="
    space = <const char*>memchr(p + 5, c' ', n - 5)
    if space == NULL:
        return "no msg= after type="
    rtype[0] = _type_number(p + 5, space - p - 5)
    if rtype[0] < 0:
        return "unknown record type"
    r = space + 1
    if p + n - r < 4 or memcmp(r, b"msg=", 4) != 0:
        return "no msg= after type="
    rest[0] = r + 4
    nrest[0] = p + n - r - 4
    return NULL


cdef inline int _sys_field(const char* k, Py_ssize_t n) noexcept:
    """Which SYSCALL field a key is, or -1 for the ones the cook never reads."""
    if n == 2:
        if k[0] == c'a' and c'0' <= k[1] <= c'3':
            return F_A0 + (k[1] - c'0')
    elif n == 3:
        if memcmp(k, b"pid", 3) == 0:
            return F_PID
        if memcmp(k, b"uid", 3) == 0:
            return F_UID
        if memcmp(k, b"exe", 3) == 0:
            return F_EXE
    elif n == 4:
        if memcmp(k, b"arch", 4) == 0:
            return F_ARCH
        if memcmp(k, b"exit", 4) == 0:
            return F_EXIT
        if memcmp(k, b"ppid", 4) == 0:
            return F_PPID
        if memcmp(k, b"auid", 4) == 0:
            return F_AUID
        if memcmp(k, b"comm", 4) == 0:
            return F_COMM
    elif n == 7:
        if memcmp(k, b"syscall", 7) == 0:
            return F_SYSCALL
        if memcmp(k, b"success", 7) == 0:
            return F_SUCCESS
    return -1


cdef inline int64_t _int32(uint64_t value) noexcept:
    """An int syscall argument from its register: the low 32 bits, signed."""
    return <int32_t><uint32_t>(value & 0xFFFFFFFFu)


cdef int _arg_key(const char* k, Py_ssize_t n, int64_t* index, int64_t* piece) noexcept:
    """`aN` or `aN[i]` (each number 1-9 digits) -> 0, else -1."""
    cdef const char* end = k + n
    cdef const char* q = k + 1
    while q < end and c'0' <= q[0] <= c'9':
        q += 1
    if godo_digits(k + 1, q - k - 1, 9, index) < 0:
        return -1
    if q == end:
        piece[0] = -1
        return 0
    if q[0] != c'[' or (end - 1)[0] != c']':
        return -1
    return godo_digits(q + 1, end - q - 2, 9, piece)


cdef int _cmp_parts(const void* a, const void* b) noexcept nogil:
    cdef const ArgPart* x = <const ArgPart*>a
    cdef const ArgPart* y = <const ArgPart*>b
    if x.index != y.index:
        return -1 if x.index < y.index else 1
    if x.piece != y.piece:
        return -1 if x.piece < y.piece else 1
    return -1 if x.seq < y.seq else (1 if x.seq > y.seq else 0)


cdef int _cmp_serials(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<Event**>a)[0].serial
    cdef int64_t y = (<Event**>b)[0].serial
    return -1 if x < y else (1 if x > y else 0)


# -- activities ---------------------------------------------------------------

# The contract's field order, as the pure twin's Activity.__slots__ has it.
_ACTIVITY_FIELDS = (
    "kind", "ts", "serial", "syscall", "success", "exit", "pid", "ppid", "uid", "auid",
    "comm", "exe", "argv", "argc", "cwd", "path", "dirfd", "fd", "flags", "mode", "created",
    "bytes", "new_fd", "max_fd", "cloexec", "child", "thread", "code", "new_root", "put_old",
    "new_path", "new_dirfd", "target", "signal", "proctitle",
)

# Holds only str, int, float, bool and lists of str: it cannot close a reference
# cycle, and untracked it costs the cyclic GC nothing however many a batch holds.
@cython.no_gc
cdef class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract."""

    def __init__(self, kind, ts, serial, syscall, success, exit, pid, ppid, uid, auid, comm, exe):
        self.kind = kind
        self.ts = ts
        self.serial = serial
        self.syscall = syscall
        self.success = success
        self.exit = exit
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.auid = auid
        self.comm = comm
        self.exe = exe

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        values = (
            self.kind, self.ts, self.serial, self.syscall, self.success, self.exit, self.pid,
            self.ppid, self.uid, self.auid, self.comm, self.exe, self.argv, self.argc, self.cwd,
            self.path, self.dirfd, self.fd, self.flags, self.mode, self.created, self.bytes, self.new_fd,
            self.max_fd, self.cloexec, self.child, self.thread, self.code, self.new_root,
            self.put_old, self.new_path, self.new_dirfd, self.target, self.signal, self.proctitle)
        return {name: value for name, value in zip(_ACTIVITY_FIELDS, values) if value is not None}

    def __repr__(self) -> str:
        return f"Activity({self.to_dict()!r})"


# -- the pipeline -------------------------------------------------------------

cdef class Pipeline:
    """Parser, assembler and cook in one pass over batches of records."""

    def __cinit__(self):
        self.errors = []
        self._first_serial = -1
        self._last_serial = -1
        self._source = ""
        self._tables = [_ArchTable(arch) for arch in S.ARCH_NAMES]
        self._comm = _TextCache()
        self._exe = _TextCache()
        self._pid, self._ppid, self._uid, self._auid = _LastInt(), _LastInt(), _LastInt(), _LastInt()
        self._ts = _LastFloat()
        self._title = _TitleCache()

    def __init__(self, *, window=64, max_in_flight=4096, timeout=2.0, max_bytes=R.MAX_BYTES):
        if window < 0 or max_in_flight < 1 or max_bytes < 1:
            raise ValueError("window must be >= 0, max_in_flight and max_bytes >= 1")
        self._window = window
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._max_bytes = max_bytes

    def __dealloc__(self):
        cdef Event* ev
        cdef Py_ssize_t i
        for i in range(self._nlive):
            self._live[i].next_free = self._free
            self._free = self._live[i]
        while self._free != NULL:
            ev = self._free
            self._free = ev.next_free
            PyMem_Free(ev.arena)
            PyMem_Free(ev.paths)
            PyMem_Free(ev.execve)
            PyMem_Free(ev)
        PyMem_Free(self._live)
        PyMem_Free(self._pend)
        PyMem_Free(self._parts)
        for i in range(4):
            PyMem_Free(self._bufs[i])

    # Settings stay valid: the assembler's arithmetic relies on them.
    @property
    def window(self):
        return self._window

    @window.setter
    def window(self, value):
        if value < 0:
            raise ValueError("window must be >= 0")
        self._window = value

    @property
    def max_in_flight(self):
        return self._max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value):
        if value < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._max_in_flight = value

    @property
    def max_bytes(self):
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value):
        if value < 1:
            raise ValueError("max_bytes must be >= 1")
        self._max_bytes = value

    @property
    def timeout(self):
        return self._timeout

    @timeout.setter
    def timeout(self, value):
        self._timeout = value

    # -- feeding ------------------------------------------------------------

    def feed_log(self, data, source=""):
        """audit.log text (RAW or ENRICHED), in chunks of any size: a line cut at the
        end of one chunk is finished by the next."""
        cdef list out = []
        cdef Py_buffer view
        cdef const char* p
        cdef const char* end
        cdef const char* nl
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
                    return out
                if not self._overlong and self._npend + (nl - p) > MAX_LINE:
                    self._overlong = True
                if self._overlong:
                    self._npend = 0
                    self._log_line(NULL, 0, out)
                else:
                    memcpy(self._pend + self._npend, p, nl - p)
                    n = self._npend + (nl - p)
                    self._npend = 0
                    self._log_line(self._pend, n, out)
                p = nl + 1
            while p < end:
                nl = <const char*>memchr(p, c'\n', end - p)
                if nl == NULL:
                    break
                self._log_line(p, nl - p, out)
                p = nl + 1
            self._hold(p, end - p)
        finally:
            PyBuffer_Release(&view)
        return out

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

    cdef int _log_line(self, const char* p, Py_ssize_t n, list out) except -1:
        cdef const char* why = NULL
        cdef const char* rest
        cdef Py_ssize_t nrest
        cdef int rtype
        self._lineno += 1
        if self._overlong:
            self._overlong = False
            why = "line too long"
        elif n == 0:
            return 0
        elif n > MAX_LINE:
            why = "line too long"
        else:
            why = _split_log_line(p, n, &rtype, &rest, &nrest)
            if why == NULL:
                if self._record(rtype, rest, nrest, 0.0, out) == 0:
                    return 0
                return self._bad(f"{self._source or 'log'}:{self._lineno}", self._why)
        return self._bad(f"{self._source or 'log'}:{self._lineno}", why.decode("ascii"))

    def feed_frames(self, data, double now=0.0):
        """Netlink datagrams packed by a Receiver: per datagram a native u32 size,
        then the datagram as received (nlmsghdr, then the record text)."""
        cdef list out = []
        cdef Py_buffer view
        cdef const char* p
        cdef const unsigned char* frame
        cdef uint32_t size
        cdef Py_ssize_t off = 0, end, n
        cdef int rc
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
                    self._bad(f"netlink datagram {self._frames}", "short datagram")
                    continue
                rc = self._record(frame[4] | frame[5] << 8, <const char*>frame + NLMSGHDR_SIZE,
                                  n - NLMSGHDR_SIZE, now, out)
                if rc:
                    self._bad(f"netlink datagram {self._frames}", self._why)
        finally:
            PyBuffer_Release(&view)
        return out

    def expire(self, double now):
        """Complete live events whose EOE has not come within the time-out."""
        cdef list out = []
        cdef double limit = now - self._timeout
        cdef Py_ssize_t i = 0
        while i < self._nlive:
            if self._live[i].born <= limit:
                self._finish(self._live[i], out)
            else:
                i += 1
        return out

    def flush(self):
        """End of input: every event in flight is complete; a cut last line is read."""
        cdef list out = []
        cdef Py_ssize_t n
        if self._npend or self._overlong:
            n = self._npend
            self._npend = 0
            self._log_line(self._pend, n, out)
        if self._nlive:
            qsort(self._live, self._nlive, sizeof(Event*), _cmp_serials)
            while self._nlive:
                self._finish(self._live[0], out)
        return out

    @property
    def in_flight(self):
        return self._nlive

    @property
    def serial_gaps(self):
        if self._first_serial < 0:
            return 0
        return max(0, self._last_serial - self._first_serial + 1 - self._distinct)

    def stats(self) -> dict:
        return {"records": self.records, "events": self.events, "activities": self.activities,
                "malformed": self.malformed, "serial_gaps": self.serial_gaps,
                "evicted": self.evicted, "in_flight": self._nlive}

    # -- assembling ---------------------------------------------------------

    cdef int _bad(self, object where, object why) except -1:
        self.malformed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((where, why))
        return 0

    cdef int _record(self, int rtype, const char* data, Py_ssize_t n, double now,
                     list out) except -1:
        """One record into its event: 0, or 1 when it is malformed (self._why)."""
        cdef Header h
        cdef const char* why = _split_header(data, n, &h)
        cdef Event* ev
        cdef const char* pos
        cdef const char* end
        cdef const char* key
        cdef const char* val
        cdef const char* name
        cdef const char* kind
        cdef Py_ssize_t keylen, vallen, nlen, klen, off
        cdef int f
        cdef int64_t oflag
        if why != NULL:
            self._why = why.decode("ascii")
            return 1
        self.records += 1
        if not _is_multi(rtype):
            if rtype == T_EOE:
                ev = self._find(h.serial)
                if ev != NULL:
                    self._finish(ev, out)
            return 0
        ev = self._find(h.serial)
        if ev == NULL:
            ev = self._start(h.serial, _ts(&h), now, out)
        if rtype == T_SYSCALL or rtype == T_PATH or rtype == T_CWD or rtype == T_EXECVE:
            if self._keep(ev, h.nbody, out):
                return 1
        if rtype == T_SYSCALL:
            off = self._put(ev, h.body, h.nbody)
            for f in range(NSYS):
                ev.sys[f].len = -1
            ev.has_syscall = True
            pos = ev.arena + off
            end = pos + h.nbody
            while godo_next_kv(&pos, end, &key, &keylen, &val, &vallen):
                f = _sys_field(key, keylen)
                if f >= 0:  # a key written twice keeps its last value, as in a dict
                    ev.sys[f].off = val - ev.arena
                    ev.sys[f].len = vallen
        elif rtype == T_PATH:
            if ev.npaths == ev.paths_cap:
                ev.paths_cap = max(4, 2 * ev.paths_cap)
                ev.paths = <PathItem*>PyMem_Realloc(ev.paths, ev.paths_cap * sizeof(PathItem))
                if ev.paths == NULL:
                    ev.npaths = ev.paths_cap = 0
                    raise MemoryError()
            name = godo_field(h.body, h.nbody, b"name=", 5, &nlen)
            kind = godo_field(h.body, h.nbody, b"nametype=", 9, &klen)
            ev.paths[ev.npaths].name.len = -1
            ev.paths[ev.npaths].nametype.len = -1
            if name != NULL:
                ev.paths[ev.npaths].name.off = self._put(ev, name, nlen)
                ev.paths[ev.npaths].name.len = nlen
            if kind != NULL:
                ev.paths[ev.npaths].nametype.off = self._put(ev, kind, klen)
                ev.paths[ev.npaths].nametype.len = klen
            ev.npaths += 1
        elif rtype == T_CWD:
            ev.cwd.len = -1
            if h.nbody >= 4 and memcmp(h.body, b"cwd=", 4) == 0:
                ev.cwd.off = self._put(ev, h.body + 4, h.nbody - 4)
                ev.cwd.len = h.nbody - 4
        elif rtype == T_EXECVE:
            if ev.nexecve == ev.execve_cap:
                ev.execve_cap = max(4, 2 * ev.execve_cap)
                ev.execve = <Slice*>PyMem_Realloc(ev.execve, ev.execve_cap * sizeof(Slice))
                if ev.execve == NULL:
                    ev.nexecve = ev.execve_cap = 0
                    raise MemoryError()
            ev.execve[ev.nexecve].off = self._put(ev, h.body, h.nbody)
            ev.execve[ev.nexecve].len = h.nbody
            ev.nexecve += 1
        elif rtype == T_OPENAT2:
            # The kernel writes oflag=0%llo.
            val = godo_field(h.body, h.nbody, b"oflag=", 6, &vallen)
            ev.has_oflag = False
            if val != NULL and vallen > 0:
                if godo_oct(val, vallen, &oflag) < 0:
                    self._why = "oflag is not octal"
                    return 1
                ev.has_oflag = True
                ev.oflag = oflag
        elif rtype == T_PROCTITLE:
            # PROCTITLE is the last record the kernel writes for a syscall event
            # (only EOE follows), and logs carry no EOE: it completes the event.
            if h.nbody >= 10 and memcmp(h.body, b"proctitle=", 10) == 0:
                ev.proctitle = h.body + 10
                ev.proctitle_len = h.nbody - 10
            self._finish(ev, out)
        return 0

    cdef Event* _find(self, int64_t serial) noexcept:
        # Newest first: an event's records come together, behind its first one.
        cdef Py_ssize_t i = self._nlive
        while i > 0:
            i -= 1
            if self._live[i].serial == serial:
                return self._live[i]
        return NULL

    cdef int64_t _oldest(self) noexcept:
        cdef Py_ssize_t i
        if not self._min_valid:
            self._min_serial = self._live[0].serial
            for i in range(1, self._nlive):
                if self._live[i].serial < self._min_serial:
                    self._min_serial = self._live[i].serial
            self._min_valid = True
        return self._min_serial

    cdef Event* _start(self, int64_t serial, double ts, double now, list out) except NULL:
        cdef Event* ev
        cdef Event** live
        cdef Py_ssize_t i, cap
        if self._first_serial < 0:
            self._first_serial = serial
        if serial > self._last_serial:
            self._last_serial = serial
        self._distinct += 1
        # Logs carry no EOE: an event far behind the newest serial is done.
        if self._window and self._nlive and serial - self._window > self._oldest():
            i = 0
            while i < self._nlive:
                if self._live[i].serial < serial - self._window:
                    self._finish(self._live[i], out)
                else:
                    i += 1
        if self._nlive and self._nlive >= self._max_in_flight:
            self.evicted += 1
            self._finish(self._find(self._oldest()), out)
        if self._nlive == self._live_cap:
            cap = max(16, 2 * self._live_cap)
            live = <Event**>PyMem_Realloc(self._live, cap * sizeof(Event*))
            if live == NULL:
                raise MemoryError()
            self._live = live
            self._live_cap = cap
        if self._free != NULL:
            ev = self._free
            self._free = ev.next_free
            self._nfree -= 1
        else:
            ev = <Event*>PyMem_Malloc(sizeof(Event))
            if ev == NULL:
                raise MemoryError()
            memset(ev, 0, sizeof(Event))
            ev.cwd.len = -1
        ev.serial = serial
        ev.ts = ts
        ev.born = now
        ev.next_free = NULL
        if self._nlive == 0:
            self._min_serial = serial
            self._min_valid = True
        elif self._min_valid and serial < self._min_serial:
            self._min_serial = serial
        self._live[self._nlive] = ev
        self._nlive += 1
        return ev

    cdef int _keep(self, Event* ev, Py_ssize_t n, list out) except -1:
        """Account for a record the event keeps; past the byte budget the oldest
        other events are completed early, and an event alone over it is refused."""
        cdef Py_ssize_t cost = n + RECORD_COST, i
        cdef Event* oldest
        if ev.size + cost > self._max_bytes:
            self._why = "event too large"
            return 1
        ev.size += cost
        self._bytes += cost
        while self._bytes > self._max_bytes:
            oldest = NULL
            for i in range(self._nlive):
                if self._live[i] != ev and (oldest == NULL or self._live[i].serial < oldest.serial):
                    oldest = self._live[i]
            self.evicted += 1
            self._finish(oldest, out)
        return 0

    cdef Py_ssize_t _put(self, Event* ev, const char* p, Py_ssize_t n) except -1:
        """Copy bytes into the event's arena; their offset there."""
        cdef Py_ssize_t cap, off = ev.used
        cdef char* arena
        if ev.used + n > ev.cap:
            cap = max(ev.used + n, 2 * ev.cap, 1024)
            arena = <char*>PyMem_Realloc(ev.arena, cap)
            if arena == NULL:
                raise MemoryError()
            ev.arena = arena
            ev.cap = cap
        memcpy(ev.arena + off, p, n)
        ev.used += n
        return off

    cdef int _finish(self, Event* ev, list out) except -1:
        """Take an event out of flight, complete it and give its memory back."""
        cdef Py_ssize_t i = self._nlive
        while i > 0:
            i -= 1
            if self._live[i] == ev:
                break
        if GODO_DEBUG:
            assert self._live[i] == ev, "finishing an event that is not in flight"
        memmove(self._live + i, self._live + i + 1, (self._nlive - i - 1) * sizeof(Event*))
        self._nlive -= 1
        self._bytes -= ev.size
        if ev.serial == self._min_serial:
            self._min_valid = False
        self.events += 1
        try:
            if ev.has_syscall and self._cook(ev, out):
                self._bad(f"event {ev.serial}", "cannot cook: " + self._why)
        finally:
            self._release(ev)
        return 0

    cdef void _release(self, Event* ev) noexcept:
        if self._nfree >= POOL_KEEP:
            PyMem_Free(ev.arena)
            PyMem_Free(ev.paths)
            PyMem_Free(ev.execve)
            PyMem_Free(ev)
            return
        # Pooled events keep their buffers, unless a big event grew them.
        if ev.cap > ARENA_KEEP:
            PyMem_Free(ev.arena)
            ev.arena = NULL
            ev.cap = 0
        if ev.paths_cap > ARRAY_KEEP:
            PyMem_Free(ev.paths)
            ev.paths = NULL
            ev.paths_cap = 0
        if ev.execve_cap > ARRAY_KEEP:
            PyMem_Free(ev.execve)
            ev.execve = NULL
            ev.execve_cap = 0
        ev.used = 0
        ev.size = 0
        ev.has_syscall = False
        ev.cwd.len = -1
        ev.npaths = 0
        ev.nexecve = 0
        ev.has_oflag = False
        ev.proctitle = NULL
        ev.proctitle_len = 0
        ev.next_free = self._free
        self._free = ev
        self._nfree += 1

    # -- cooking ------------------------------------------------------------

    cdef char* _buf(self, int slot, Py_ssize_t need) except NULL:
        """Scratch buffer `slot`, with room for `need` bytes; earlier contents of the
        same slot may move, other slots stay put."""
        cdef Py_ssize_t cap
        cdef char* mem
        if need > self._buf_caps[slot] or self._bufs[slot] == NULL:
            cap = max(need, 2 * self._buf_caps[slot], 256)
            mem = <char*>PyMem_Realloc(self._bufs[slot], cap)
            if mem == NULL:
                raise MemoryError()
            self._bufs[slot] = mem
            self._buf_caps[slot] = cap
        return self._bufs[slot]

    cdef inline int _dec_field(self, Event* ev, int f, int64_t* out) except -1:
        cdef Slice s = ev.sys[f]
        if s.len < 0:
            self._why = _MISSING[f]
            return 1
        if godo_dec(ev.arena + s.off, s.len, out) < 0:
            self._why = _NOT_NUMBER[f]
            return 1
        return 0

    cdef inline int _hex_field(self, Event* ev, int f, uint64_t* out) except -1:
        cdef Slice s = ev.sys[f]
        if s.len < 0:
            self._why = _MISSING[f]
            return 1
        if godo_hex(ev.arena + s.off, s.len, out) < 0:
            self._why = _NOT_HEX[f]
            return 1
        return 0

    cdef Activity _make(self, Event* ev, object kind, object name, object success, object exit):
        """The activity with the SYSCALL record's fields, or None when one is bad."""
        cdef int64_t pid, ppid, uid, auid
        cdef Activity act
        cdef Slice s
        if (self._dec_field(ev, F_PID, &pid) or self._dec_field(ev, F_PPID, &ppid)
                or self._dec_field(ev, F_UID, &uid) or self._dec_field(ev, F_AUID, &auid)):
            return None
        act = Activity.__new__(Activity)
        act.kind = kind
        act.ts = self._ts.get(ev.ts)
        act.serial = ev.serial
        act.syscall = name
        act.success = success
        act.exit = exit
        act.pid = self._pid.get(pid)
        act.ppid = self._ppid.get(ppid)
        act.uid = self._uid.get(uid)
        act.auid = self._auid.get(auid)
        s = ev.sys[F_COMM]
        if s.len >= 0:
            act.comm = self._comm.get(ev.arena + s.off, s.len, self._buf(0, s.len // 2 + 1))
        s = ev.sys[F_EXE]
        if s.len >= 0:
            act.exe = self._exe.get(ev.arena + s.off, s.len, self._buf(0, s.len // 2 + 1))
        return act

    cdef int _cook(self, Event* ev, list out) except -1:
        """The event's activity into `out`, if it has one: 0, or 1 when the event
        cannot be cooked (self._why)."""
        cdef uint64_t arch, a0, a1, a2, a3, flags
        cdef int64_t nr, exitv = 0, cmd, dirfd
        cdef bint has_exit, relative
        cdef int code
        cdef _ArchTable table
        cdef Activity act
        cdef Slice s
        cdef PathItem* item
        cdef PathItem* second
        cdef Py_ssize_t i
        if self._hex_field(ev, F_ARCH, &arch):
            return 1
        table = self._last_table
        if table is None or table.arch != arch:
            table = None
            for t in self._tables:
                if (<_ArchTable>t).arch == arch:
                    table = t
                    break
            if table is None or table.size == 0:
                return 0
            self._last_table = table
        if self._dec_field(ev, F_SYSCALL, &nr):
            return 1
        if nr < 0 or nr >= table.size or table.codes[nr] == 0:
            return 0
        code = table.codes[nr]
        name = table.names[nr]
        s = ev.sys[F_SUCCESS]
        success = None if s.len < 0 else (s.len == 3 and memcmp(ev.arena + s.off, b"yes", 3) == 0)
        has_exit = ev.sys[F_EXIT].len >= 0
        exit = None
        if has_exit:
            if self._dec_field(ev, F_EXIT, &exitv):
                return 1
            exit = exitv
        if (self._hex_field(ev, F_A0, &a0) or self._hex_field(ev, F_A1, &a1)
                or self._hex_field(ev, F_A2, &a2) or self._hex_field(ev, F_A3, &a3)):
            return 1

        if code == C_EXIT or code == C_EXIT_GROUP:
            act = self._make(ev, "exit", name, success, exit)
            if act is None:
                return 1
            act.success = act.exit = None
            act.code = a0 & 0xFF
        elif success is not True and not (
                code == C_OPEN or code == C_OPEN_AT or code == C_OPEN_AT2 or code == C_CREAT
                or code == C_EXEC or code == C_EXEC_AT):
            return 0

        elif code == C_SPAWN_CLONE or code == C_SPAWN_CLONE3 or code == C_SPAWN_FORK:
            if not has_exit or exitv <= 0:
                return 0
            act = self._make(ev, "spawn", name, success, exit)
            if act is None:
                return 1
            act.child = exit
            if code == C_SPAWN_CLONE:
                act.thread = (a0 & CLONE_THREAD) != 0
            elif code == C_SPAWN_FORK:
                act.thread = False
        elif code == C_EXEC or code == C_EXEC_AT:
            act = self._make(ev, "exec", name, success, exit)
            if act is None or self._argv(ev, act):
                return 1
            if not act.argv and ev.proctitle != NULL and ev.proctitle_len > 0:
                act.proctitle = self._proctitle(ev)
            act.cwd = self._cwd_str(ev)
            item = self._file_item(ev)
            if item != NULL and code == C_EXEC:
                act.path = self._path(ev, ev.arena + item.name.off, item.name.len, True)
        elif code == C_OPEN or code == C_OPEN_AT or code == C_OPEN_AT2 or code == C_CREAT:
            act = self._make(ev, "open", name, success, exit)
            if act is None:
                return 1
            if code == C_OPEN:
                flags = a1
                act.flags, act.mode = a1, a2
            elif code == C_OPEN_AT:
                flags = a2
                act.flags, act.mode = a2, a3
            elif code == C_OPEN_AT2:
                flags = <uint64_t>ev.oflag
                if ev.has_oflag:
                    act.flags = ev.oflag
            else:
                flags = O_CREAT | O_WRONLY | O_TRUNC
                act.flags, act.mode = flags, a1
            # The kernel reads mode only with O_CREAT or O_TMPFILE.
            if act.flags is None or not (flags & O_CREAT or flags & O_TMPFILE == O_TMPFILE):
                act.mode = None
            if success is True:
                act.fd = exit
            dirfd = _int32(a0) if code == C_OPEN_AT or code == C_OPEN_AT2 else AT_FDCWD
            item = self._file_item(ev)
            self._set_path(act, ev, dirfd, item)
            if (success is True and item != NULL and item.nametype.len == 6
                    and memcmp(ev.arena + item.nametype.off, b"CREATE", 6) == 0):
                act.created = True
        elif code == C_WRITE or code == C_WRITE_A2:
            act = self._make(ev, "write", name, success, exit)
            if act is None:
                return 1
            act.fd, act.bytes = _int32(a0 if code == C_WRITE else a2), exit
        elif code == C_CLOSE:
            act = self._make(ev, "close", name, success, exit)
            if act is None:
                return 1
            act.fd = _int32(a0)
        elif code == C_CLOSE_RANGE:
            act = self._make(ev, "close", name, success, exit)
            if act is None:
                return 1
            act.fd, act.max_fd = a0 & 0xFFFFFFFFu, a1 & 0xFFFFFFFFu
            if a2 & CLOSE_RANGE_CLOEXEC:
                act.kind, act.cloexec = "cloexec", True
        elif code == C_DUP or code == C_DUP2 or code == C_DUP3:
            act = self._make(ev, "dup", name, success, exit)
            if act is None:
                return 1
            act.fd, act.new_fd = _int32(a0), exit
            act.cloexec = code == C_DUP3 and (a2 & O_CLOEXEC) != 0
        elif code == C_FCNTL:
            cmd = _int32(a1)
            if cmd == F_DUPFD or cmd == F_DUPFD_CLOEXEC:
                act = self._make(ev, "dup", name, success, exit)
                if act is None:
                    return 1
                act.fd, act.new_fd, act.cloexec = _int32(a0), exit, cmd == F_DUPFD_CLOEXEC
            elif cmd == F_SETFD:
                act = self._make(ev, "cloexec", name, success, exit)
                if act is None:
                    return 1
                act.fd, act.cloexec = _int32(a0), (a2 & 1) != 0
            else:
                return 0
        elif code == C_PIVOT_ROOT:
            act = self._make(ev, "pivot_root", name, success, exit)
            if act is None:
                return 1
            item = second = NULL
            for i in range(ev.npaths):  # PARENT items count here: the kernel's order is the call's
                if not godo_is_none(ev.arena + ev.paths[i].name.off, ev.paths[i].name.len):
                    if item == NULL:
                        item = &ev.paths[i]
                    elif second == NULL:
                        second = &ev.paths[i]
            if second != NULL:
                # Relative names stay relative: the cwd they are relative to is the one
                # before the call; this event's CWD record is written after it,
                # relative to the new root. The tracker knows the one before.
                act.new_root = self._path(ev, ev.arena + item.name.off, item.name.len, False)
                act.put_old = self._path(ev, ev.arena + second.name.off, second.name.len, False)
        elif code == C_CHDIR:
            act = self._make(ev, "chdir", name, success, exit)
            if act is None:
                return 1
            item = self._file_item(ev)
            if item != NULL:
                act.path = self._path(ev, ev.arena + item.name.off, item.name.len, True)
            else:
                act.path = self._cwd_str(ev)
        elif code == C_FCHDIR:
            act = self._make(ev, "chdir", name, success, exit)
            if act is None:
                return 1
            act.fd = _int32(a0)
        elif code == C_RENAME or code == C_RENAME_AT:
            act = self._make(ev, "rename", name, success, exit)
            if act is None:
                return 1
            self._set_path(act, ev, _int32(a0) if code == C_RENAME_AT else AT_FDCWD,
                           self._item_of(ev, b"DELETE", 6))
            item = self._item_of(ev, b"CREATE", 6)
            if item != NULL:
                # The new name follows the old one's rules into other fields.
                old = act.path, act.dirfd
                self._set_path(act, ev, _int32(a2) if code == C_RENAME_AT else AT_FDCWD, item)
                act.new_path, act.new_dirfd = act.path, act.dirfd
                act.path, act.dirfd = old
        elif code == C_UNLINK or code == C_UNLINK_AT:
            act = self._make(ev, "unlink", name, success, exit)
            if act is None:
                return 1
            self._set_path(act, ev, _int32(a0) if code == C_UNLINK_AT else AT_FDCWD,
                           self._item_of(ev, b"DELETE", 6))
        elif code == C_KILL or code == C_TKILL or code == C_TGKILL:
            act = self._make(ev, "kill", name, success, exit)
            if act is None:
                return 1
            act.target = _int32(a0)
            act.signal = _int32(a2) if code == C_TGKILL else _int32(a1)
        else:
            return 0
        out.append(act)
        self.activities += 1
        return 0

    cdef int _argv(self, Event* ev, Activity act) except -1:
        """EXECVE records -> act.argv: split `aN[i]` pieces joined, several records
        merged; act.argc only when the kernel's count disagrees. 0, or 1 (self._why)."""
        cdef Py_ssize_t n = 0, i, j, k, seq = 0, joined
        cdef int64_t argc = 0, index, piece
        cdef bint has_argc = False
        cdef const char* pos
        cdef const char* end
        cdef const char* key
        cdef const char* val
        cdef const char* text
        cdef Py_ssize_t keylen, vallen, textlen
        cdef ArgPart* parts
        cdef char* buf
        cdef list argv
        if ev.nexecve == 0:
            return 0
        for i in range(ev.nexecve):
            pos = ev.arena + ev.execve[i].off
            end = pos + ev.execve[i].len
            while godo_next_kv(&pos, end, &key, &keylen, &val, &vallen):
                if keylen == 4 and memcmp(key, b"argc", 4) == 0:
                    if godo_dec(val, vallen, &argc) < 0:
                        self._why = "argc is not a number"
                        return 1
                    has_argc = True
                elif key[0] == c'a' and not (keylen >= 4 and memcmp(key + keylen - 4, b"_len", 4) == 0):
                    if _arg_key(key, keylen, &index, &piece) < 0:
                        self._why = "bad EXECVE argument key"
                        return 1
                    if n == self._parts_cap:
                        self._parts_cap = max(64, 2 * self._parts_cap)
                        parts = <ArgPart*>PyMem_Realloc(self._parts, self._parts_cap * sizeof(ArgPart))
                        if parts == NULL:
                            self._parts_cap = 0
                            raise MemoryError()
                        self._parts = parts
                    self._parts[n].index = index
                    self._parts[n].piece = piece
                    self._parts[n].seq = seq
                    self._parts[n].val = val
                    self._parts[n].len = vallen
                    n += 1
                    seq += 1
        parts = self._parts
        # The kernel writes arguments in order: sort only when they are not.
        for i in range(1, n):
            if _cmp_parts(&parts[i - 1], &parts[i]) > 0:
                qsort(parts, n, sizeof(ArgPart), _cmp_parts)
                break
        argv = []
        # Sorted by (index, piece, seq): whole arguments before pieces, and the
        # last of equal keys is the one that counts.
        buf = self._buf(2, ev.used + 1)
        i = 0
        while i < n:
            j = i
            while j < n and parts[j].index == parts[i].index:
                j += 1
            if parts[j - 1].piece >= 0:
                joined = 0
                for k in range(i, j):
                    if parts[k].piece < 0 or (k + 1 < j and parts[k + 1].piece == parts[k].piece):
                        continue
                    if godo_text(parts[k].val, parts[k].len, buf + joined, &text, &textlen):
                        memmove(buf + joined, text, textlen)
                        joined += textlen
                argv.append(PyUnicode_DecodeUTF8(buf, joined, "backslashreplace"))
            else:
                text = parts[j - 1].val
                textlen = parts[j - 1].len
                if not godo_is_none(text, textlen):
                    argv.append(_text_str(text, textlen, self._buf(1, textlen // 2 + 1)))
            i = j
        act.argv = argv
        if has_argc and argc != len(argv):
            act.argc = argc
        return 0

    cdef object _proctitle(self, Event* ev):
        cdef const char* data = NULL
        cdef Py_ssize_t n = 0, i, start = 0
        cdef list parts = []
        cdef _TitleCache cache = self._title
        if ev.proctitle_len == cache.len and memcmp(ev.proctitle, cache.raw, cache.len) == 0:
            return list(cache.parts)  # each activity owns its list
        if not godo_text(ev.proctitle, ev.proctitle_len, self._buf(1, ev.proctitle_len // 2 + 1),
                         &data, &n):
            n = 0
        while n > 0 and data[n - 1] == 0:
            n -= 1
        for i in range(n + 1):
            if i == n or data[i] == 0:
                parts.append(PyUnicode_DecodeUTF8(data + start, i - start, "backslashreplace"))
                start = i + 1
        if ev.proctitle_len <= <Py_ssize_t>sizeof(cache.raw):
            memcpy(cache.raw, ev.proctitle, ev.proctitle_len)
            cache.len = ev.proctitle_len
            cache.parts = tuple(parts)
        return parts

    cdef object _cwd_str(self, Event* ev):
        if ev.cwd.len < 0:
            return None
        return _text_str(ev.arena + ev.cwd.off, ev.cwd.len, self._buf(0, ev.cwd.len // 2 + 1))

    cdef object _path(self, Event* ev, const char* raw, Py_ssize_t n, bint join):
        """_join(cwd, name) when `join`, else _normalise(name), from a raw name
        that is not None."""
        cdef const char* name = raw
        cdef const char* cwd
        cdef Py_ssize_t nn = 0, nc
        cdef char* joined
        cdef char* normal
        godo_text(raw, n, self._buf(1, n // 2 + 1), &name, &nn)
        if join and not (nn > 0 and name[0] == c'/') and ev.cwd.len >= 0 and godo_text(
                ev.arena + ev.cwd.off, ev.cwd.len, self._buf(0, ev.cwd.len // 2 + 1), &cwd, &nc):
            joined = self._buf(2, nc + 1 + nn)
            memcpy(joined, cwd, nc)
            joined[nc] = c'/'
            memcpy(joined + nc + 1, name, nn)
            name = joined
            nn += nc + 1
        if godo_needs_normpath(name, nn):
            normal = self._buf(3, nn + 1)
            nn = godo_normpath(name, nn, normal)
            name = normal
        return PyUnicode_DecodeUTF8(name, nn, "backslashreplace")

    cdef int _set_path(self, Activity act, Event* ev, int64_t dirfd, PathItem* item) except -1:
        cdef const char* raw
        cdef const char* name = NULL
        cdef Py_ssize_t nn = 0
        if item == NULL:
            return 0
        raw = ev.arena + item.name.off
        godo_text(raw, item.name.len, self._buf(1, item.name.len // 2 + 1), &name, &nn)
        if dirfd != AT_FDCWD and not (nn > 0 and name[0] == c'/'):
            # Relative to a directory fd: only the tracker's fd table knows where it points.
            act.path = self._path(ev, raw, item.name.len, False)
            act.dirfd = dirfd
        else:
            act.path = self._path(ev, raw, item.name.len, True)
            act.dirfd = None
        return 0

    cdef PathItem* _file_item(self, Event* ev) noexcept:
        """The file an event is about: never a PARENT item."""
        cdef Py_ssize_t i
        cdef PathItem* item
        for i in range(ev.npaths):
            item = &ev.paths[i]
            if item.name.len < 0 or godo_is_none(ev.arena + item.name.off, item.name.len):
                continue
            if item.nametype.len == 6 and memcmp(ev.arena + item.nametype.off, b"PARENT", 6) == 0:
                continue
            return item
        return NULL

    cdef PathItem* _item_of(self, Event* ev, const char* kind, Py_ssize_t n) noexcept:
        cdef Py_ssize_t i
        cdef PathItem* item
        for i in range(ev.npaths):
            item = &ev.paths[i]
            if item.name.len < 0 or godo_is_none(ev.arena + item.name.off, item.name.len):
                continue
            if item.nametype.len == n and memcmp(ev.arena + item.nametype.off, kind, n) == 0:
                return item
        return NULL


# -- one record, for tests and fixtures ----------------------------------------

def parse_record(data, rtype=None):
    """One record as godo reads it, for tests and fixtures: with `rtype`, `data` is a
    netlink body; without, an audit.log line. Raises MalformedRecord."""
    cdef bytes raw
    cdef const char* why
    cdef const char* rest
    cdef const char* pos
    cdef const char* end
    cdef const char* key
    cdef const char* val
    cdef Py_ssize_t nrest, keylen, vallen
    cdef int number
    cdef int64_t dec
    cdef uint64_t hexa
    cdef Header h
    cdef bytearray scratch
    if rtype is None:
        raw = bytes(data).rstrip(b"\n")
        why = _split_log_line(raw, len(raw), &number, &rest, &nrest)
        if why != NULL:
            raise MalformedRecord(why.decode("ascii"))
        rtype = number
    else:
        raw = bytes(data)
        rest = raw
        nrest = len(raw)
    why = _split_header(rest, nrest, &h)
    if why != NULL:
        raise MalformedRecord(why.decode("ascii"))
    scratch = bytearray(h.nbody // 2 + 1)
    fields = {}
    pos = h.body
    end = h.body + h.nbody
    while godo_next_kv(&pos, end, &key, &keylen, &val, &vallen):
        name = PyUnicode_DecodeASCII(key, keylen, "backslashreplace")
        if name in R.TEXT_FIELDS or (rtype == R.EXECVE and name[:1] == "a" and name != "argc"
                                      and not name.endswith("_len")):
            fields[name] = _text_str(val, vallen, scratch)
        elif name in R.DECIMAL_FIELDS:
            if godo_dec(val, vallen, &dec) < 0:
                raise MalformedRecord(f"{name} is not a number")
            fields[name] = dec
        elif name in R.HEX_FIELDS:
            if godo_hex(val, vallen, &hexa) < 0:
                raise MalformedRecord(f"{name} is not hex")
            fields[name] = hexa
        else:
            fields[name] = PyUnicode_DecodeUTF8(val, vallen, "backslashreplace")
    return {"type": rtype, "ts": _ts(&h), "serial": h.serial, "fields": fields}


def _normalise(path):
    """The compiled _normalise() on a str, for the tests that pin it to posixpath."""
    cdef bytes raw = path.encode("utf-8", "surrogateescape")
    cdef bytearray out = bytearray(len(raw) + 1)
    cdef Py_ssize_t n = len(raw)
    if not godo_needs_normpath(raw, n):
        return path
    n = godo_normpath(raw, n, out)
    return bytes(out[:n]).decode("utf-8", "surrogateescape")
