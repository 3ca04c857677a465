# The compiled cook's tables and small helpers, loaded once from the vocabulary:
# the calls' rows (vocab.calls) as _Call objects by cook code, the kinds it tells
# apart, the per-arch syscall tables, and the caches that let repeated texts share
# one str. Included by _hotpath_c.pyx before cook.pxi, which uses them.

cdef enum:
    TEXT_CACHE = 128
    MAX_FCNTL = 8

# The vocabulary's messages for a SYSCALL field that is absent or not a number.
cdef tuple _MISSING = tuple(f"no {name}" for name in R.SYSCALL_FIELDS)
cdef tuple _NOT_NUMBER = tuple(f"{name} is not a number" for name in R.SYSCALL_FIELDS)
cdef tuple _NOT_HEX = tuple(f"{name} is not hex" for name in R.SYSCALL_FIELDS)
cdef str _NO_TTY = R.NO_TTY
cdef object _BAD = object()  # an id that is there and not a number
cdef dict _ENRICHED_NAMES = R.ENRICHED_NAMES

# The kinds, by their place in vocab.calls.KINDS (cloexec after them), and their str.
cdef list _KIND_STR = list(CALLS.KINDS) + [CALLS.CLOEXEC_KIND]
cdef int KI_SPAWN = _KIND_STR.index("spawn"), KI_EXEC = _KIND_STR.index("exec")
cdef int KI_EXIT = _KIND_STR.index("exit"), KI_OPEN = _KIND_STR.index("open")
cdef int KI_WRITE = _KIND_STR.index("write"), KI_DUP = _KIND_STR.index("dup")
cdef int KI_PIVOT_ROOT = _KIND_STR.index("pivot_root"), KI_CHDIR = _KIND_STR.index("chdir")
cdef int KI_KILL = _KIND_STR.index("kill"), KI_CLOEXEC = _KIND_STR.index(CALLS.CLOEXEC_KIND)
cdef int NKINDS = len(_KIND_STR)
cdef unsigned char _WHEN_FAILED[32]
if NKINDS > 32:
    raise ImportError(f"the vocabulary has {NKINDS} kinds, the compiled cook room for 32")
for _i, _kind in enumerate(_KIND_STR):
    _WHEN_FAILED[_i] = _kind in CALLS.COOKED_WHEN_FAILED
del _i, _kind

# The forms of vocab.calls.Arg.
cdef int A_INT = CALLS.INT, A_U32 = CALLS.U32, A_WORD = CALLS.WORD, A_BIT = CALLS.BIT
cdef int A_CONST = CALLS.CONST, A_OPENAT2 = CALLS.OPENAT2_FLAGS, A_FLAG = CALLS.FLAG
cdef int I_FILE = CALLS.FILE, I_DELETED = CALLS.DELETED, I_CREATED = CALLS.CREATED


cdef int _source(Source* into, object where, list keep) except -1:
    """A vocab.calls.Arg (or None) as a Source."""
    memset(into, 0, sizeof(Source))
    if where is None:
        return 0
    into.form = where.form
    into.reg = where.reg
    into.mask = where.mask
    if where.form == A_CONST:
        keep.append(where.value)
        into.obj = <PyObject*>where.value
        into.value = <uint64_t>int(where.value)
    elif where.form == A_FLAG:
        into.value = where.value
        into.extra = where.extra
    return 0


cdef class _Call:
    """One row of vocab.calls: its kind and where its fields are."""

    def __cinit__(self, row):
        layout = row.layout
        self.keep = []
        self.kind = _KIND_STR.index(row.kind)
        _source(&self.fd, layout.get("fd"), self.keep)
        _source(&self.flags, layout.get("flags"), self.keep)
        _source(&self.mode, layout.get("mode"), self.keep)
        _source(&self.dirfd, layout.get("dirfd"), self.keep)
        _source(&self.new_dirfd, layout.get("new_dirfd"), self.keep)
        _source(&self.max_fd, layout.get("max_fd"), self.keep)
        _source(&self.target, layout.get("target"), self.keep)
        _source(&self.signal, layout.get("signal"), self.keep)
        _source(&self.code, layout.get("code"), self.keep)
        _source(&self.thread, layout.get("thread"), self.keep)
        _source(&self.cloexec, layout.get("cloexec"), self.keep)
        _source(&self.marks, layout.get("marks"), self.keep)
        _source(&self.command, layout.get("command"), self.keep)
        self.path = layout.get("path") or 0
        self.new_path = layout.get("new_path") or 0
        self.decides = self.kind == KI_SPAWN or self.marks.form != 0 or self.command.form != 0


# The fields a _Call reads: a row placing any other is refused here, not ignored.
_CALL_FIELDS = ("fd", "flags", "mode", "dirfd", "new_dirfd", "max_fd", "target", "signal", "code",
                "thread", "cloexec", "marks", "command")
if set(_CALL_FIELDS) != set(CALLS.LAYOUT_FIELDS):
    raise ImportError(f"the compiled cook reads {_CALL_FIELDS}, the vocabulary's rows place "
                      f"{CALLS.LAYOUT_FIELDS}")

# fcntl's commands: command -> (kind, where cloexec comes from).
cdef int64_t _FCNTL_CMD[MAX_FCNTL]
cdef int _FCNTL_KIND[MAX_FCNTL]
cdef Source _FCNTL_CLOEXEC[MAX_FCNTL]
cdef Py_ssize_t _NFCNTL = len(CALLS.FCNTL_COMMANDS)
cdef list _FCNTL_KEEP = []
if _NFCNTL > MAX_FCNTL:
    raise ImportError(f"the vocabulary has {_NFCNTL} fcntl commands, the compiled cook room for {MAX_FCNTL}")
for _i, (_cmd, (_kind, _cloexec)) in enumerate(CALLS.FCNTL_COMMANDS.items()):
    _FCNTL_CMD[_i] = _cmd
    _FCNTL_KIND[_i] = _KIND_STR.index(_kind)
    _source(&_FCNTL_CLOEXEC[_i], _cloexec, _FCNTL_KEEP)
del _i, _cmd, _kind, _cloexec
# close_range's marking makes cloexec True.
cdef Source _ALWAYS
_source(&_ALWAYS, CALLS.const(True), _FCNTL_KEEP)


cdef inline uint64_t _word(const Source* s, const uint64_t* regs) noexcept:
    """A field's value as a number (flags, an exit code), for the cook's own use."""
    if s.form == A_INT:
        return <uint64_t>_int32(regs[s.reg])
    if s.form == A_U32:
        return regs[s.reg] & 0xFFFFFFFFu
    if s.form == A_WORD:
        return regs[s.reg]
    if s.form == A_BIT:
        return (regs[s.reg] & s.mask) != 0
    if s.form == A_FLAG:
        return s.value | s.extra if regs[s.reg] & s.mask else s.value
    return s.value


cdef inline object _value(const Source* s, const uint64_t* regs):
    """A field's value as the activity gives it: an int (signed for INT), a bool for BIT,
    CONST's value as the row gives it."""
    if s.form == A_INT:
        return _int32(regs[s.reg])
    if s.form == A_U32:
        return regs[s.reg] & 0xFFFFFFFFu
    if s.form == A_WORD:
        return regs[s.reg]
    if s.form == A_BIT:
        return (regs[s.reg] & s.mask) != 0
    if s.form == A_FLAG:
        return _word(s, regs)
    return <object>s.obj


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


cdef class _ArchTable:
    """One architecture's syscall numbers -> (cook code, name), from vocab.syscalls.table()."""

    def __cinit__(self, uint64_t arch):
        cdef dict table = S.table(arch)
        self.arch = arch
        self.name = S.ARCH_NAMES[arch]
        self.tmpfile = K.o_tmpfile(self.name)
        self.size = max(table) + 1 if table else 0
        self.names = [None] * self.size
        self.codes = <int*>PyMem_Malloc(max(self.size, 1) * sizeof(int))
        if self.codes == NULL:
            raise MemoryError()
        memset(self.codes, 0, max(self.size, 1) * sizeof(int))
        for number, (name, code) in table.items():
            if not 0 < code <= len(CALLS.CALLS):
                raise ValueError(f"cook code {code} of {name} is out of range")
            self.codes[number] = code
            self.names[number] = name

    def __dealloc__(self):
        PyMem_Free(self.codes)


cdef class _TextCache:
    """The last raw value of a field and its str: comm and exe repeat record
    after record, so most activities share the str instead of decoding again."""

    def __cinit__(self):
        self.len = -1

    cdef object get(self, const char* s, Py_ssize_t n, char* scratch):
        if n == self.len and memcmp(s, self.raw, n) == 0:
            return self.value
        if not self.bare:
            value = _text_str(s, n, scratch)
        else:
            value = PyUnicode_DecodeUTF8(s, n, "backslashreplace")
            if value == _NO_TTY:
                value = None
        if n <= TEXT_CACHE:
            memcpy(self.raw, s, n)
            self.len = n
            self.value = value
        return value


cdef class _TitleCache:
    def __cinit__(self):
        self.len = -1
