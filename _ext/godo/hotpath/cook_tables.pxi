# The compiled cook's tables and small helpers, loaded once from the contract:
# the call -> kind rules by cook code, the kinds it tells apart, the per-arch
# syscall tables, and the caches that let repeated texts share one str.
# Included by _hotpath_c.pyx before cook.pxi, which uses them.

cdef enum:
    TEXT_CACHE = 128

# The contract's messages for a SYSCALL field that is absent or not a number.
_FIELD_NAMES = C.SYSCALL_CALL_FIELDS + C.SYSCALL_TASK_FIELDS + C.SYSCALL_ID_FIELDS
cdef tuple _MISSING = tuple(f"no {name}" for name in _FIELD_NAMES)
cdef tuple _NOT_NUMBER = tuple(f"{name} is not a number" for name in _FIELD_NAMES)
cdef tuple _NOT_HEX = tuple(f"{name} is not hex" for name in _FIELD_NAMES)
cdef str _NO_TTY = C.NO_TTY
cdef object _BAD = object()  # an id that is there and not a number
cdef dict _ENRICHED_NAMES = C.ENRICHED_NAMES

# The call -> kind rules, indexed by cook code.
cdef list _KIND_OF = [C.KINDS.get(code) for code in range(C.COOK_CODES)]
cdef unsigned char _WHEN_FAILED[COOK_CODES]
cdef unsigned char _BY_ARGUMENTS[COOK_CODES]
for _code in range(C.COOK_CODES):
    _WHEN_FAILED[_code] = _code in C.COOKED_WHEN_FAILED
    _BY_ARGUMENTS[_code] = _code in C.DECIDED_BY_ARGUMENTS
# The kinds the cook tells apart: the very objects _KIND_OF holds, so `is` tells them.
cdef str K_SPAWN = C.KINDS[C.SPAWN_CLONE], K_EXEC = C.KINDS[C.EXEC], K_EXIT = C.KINDS[C.EXIT]
cdef str K_OPEN = C.KINDS[C.OPEN], K_WRITE = C.KINDS[C.WRITE], K_DUP = C.KINDS[C.DUP]
cdef str K_PIVOT_ROOT = C.KINDS[C.PIVOT_ROOT], K_RENAME = C.KINDS[C.RENAME]
cdef str K_UNLINK = C.KINDS[C.UNLINK], K_KILL = C.KINDS[C.KILL], K_CLOEXEC = C.CLOEXEC_KIND


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
    """One architecture's syscall numbers -> (cook code, name), from C.table()."""

    def __cinit__(self, uint64_t arch):
        cdef dict table = C.table(arch)
        self.arch = arch
        self.name = C.ARCH_NAMES[arch]
        self.tmpfile = C.o_tmpfile(self.name)
        self.size = max(table) + 1 if table else 0
        self.names = [None] * self.size
        self.codes = <int*>PyMem_Malloc(max(self.size, 1) * sizeof(int))
        if self.codes == NULL:
            raise MemoryError()
        memset(self.codes, 0, max(self.size, 1) * sizeof(int))
        for number, (name, code) in table.items():
            if not 0 < code < COOK_CODES:
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
