# Parser, compiled: record text -> a Record, read in place.
#
# The twin of godo/hotpath/_parse_py.py. A Record points into the caller's
# buffer; its slices are offsets into its body. read_record fills one from the
# text after a record's type and says why it is malformed, or NULL.

# -- record type names ---------------------------------------------------------

# An open-addressed table of the vocabulary's type names, so a line's `type=NAME`
# is found without making a bytes object.
cdef enum:
    TYPE_SLOTS = 512
    TYPE_NAME_MAX = 31
    MULTI_TABLE = 65536

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
    # Outside [MULTI_FIRST, MULTI_END) no type is multi (the table starts zeroed):
    # asking the vocabulary for those few keeps the import from 65,536 Python calls.
    for number in range(R.MULTI_FIRST, R.MULTI_END):
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


# -- the stamp and the line -----------------------------------------------------

ctypedef struct Header:
    int64_t sec
    int64_t ms
    int64_t serial
    const char* body
    Py_ssize_t nbody
    const char* extra  # an ENRICHED log's part after 0x1d, or NULL
    Py_ssize_t nextra


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


cdef enum:
    STAMP_MAX = 64  # `audit(` 15 digits `.` 15 `:` 15 `):`, and room to spare


# The last stamp read, as text and values: an event's records share theirs, so most
# stamps are read by comparing their bytes with it rather than parsing 20 digits.
# The same bytes read the same way: the parse looks at nothing after the `):`. One
# for the module, as the parse is a function of the bytes alone (read under the GIL).
ctypedef struct Stamp:
    char text[STAMP_MAX]
    Py_ssize_t len  # 0: none yet
    int64_t sec
    int64_t ms
    int64_t serial

cdef Stamp _last_stamp


cdef const char* _split_header(const char* p, Py_ssize_t n, const char* cut, Header* h) noexcept:
    """`audit(SEC.MS:SERIAL): body` -> h; NULL, or why it is malformed. `cut`: the
    first 0x1d in [p, p + n), NULL when there is none (the caller knows: a log's
    chunk is searched once, not each line)."""
    cdef const char* end = p + n
    cdef const char* q
    cdef const char* body
    cdef Stamp* last = &_last_stamp
    if last.len and n >= last.len and memcmp(p, last.text, last.len) == 0:
        h.sec = last.sec
        h.ms = last.ms
        h.serial = last.serial
        q = p + last.len - 1  # its ':'
    else:
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
        if q + 1 - p <= STAMP_MAX:
            last.len = q + 1 - p
            memcpy(last.text, p, last.len)
            last.sec = h.sec
            last.ms = h.ms
            last.serial = h.serial
    body = q + 1
    h.extra = NULL
    h.nextra = 0
    # ENRICHED fields follow 0x1d; the stamp just read holds none, so cut is in the body.
    if cut != NULL:
        h.extra = cut + 1
        h.nextra = _strip(&h.extra, end)
        end = cut
    h.nbody = _strip(&body, end)
    h.body = body
    return NULL


cdef inline const char* find_cut(const char* p, Py_ssize_t n) noexcept:
    """The first 0x1d in [p, p + n) (ENRICHED fields follow it), or NULL."""
    return <const char*>memchr(p, 0x1d, n) if n > 0 else NULL


cdef inline Py_ssize_t _strip(const char** start, const char* end) noexcept:
    """Padding (space, newline, NUL) off both ends of [*start, end): its length."""
    cdef const char* p = start[0]
    while p < end and (p[0] == c' ' or p[0] == c'\n' or p[0] == 0):
        p += 1
    while end > p and ((end - 1)[0] == c' ' or (end - 1)[0] == c'\n' or (end - 1)[0] == 0):
        end -= 1
    start[0] = p
    return end - p


cdef inline double _ts(const Header* h) noexcept:
    # Both parts are below 2**53, where Python's `sec + ms / 1000` rounds exactly
    # as these doubles do.
    return <double>h.sec + <double>h.ms / 1000.0


cdef const char* _split_log_line(const char* p, Py_ssize_t n, int* rtype,
                                 const char** rest, Py_ssize_t* nrest) noexcept:
    """`type=NAME msg=audit(...)` -> the type number and the rest from audit(."""
    cdef const char* space
    cdef const char* r
    if n >= 5 and memcmp(p, b"node=", 5) == 0:
        # auditd's prefix naming the machine the record came from: the rest reads the same.
        space = <const char*>memchr(p, c' ', n)
        if space == NULL:
            return "line does not start with type="
        n -= space + 1 - p
        p = space + 1
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


cdef const char* read_line(const char* p, Py_ssize_t n, const char* cut, Record* r) noexcept:
    """One audit.log line, without its newline (not empty): why it is malformed, or NULL.
    `cut`: the line's first 0x1d, NULL when it has none."""
    cdef const char* why
    cdef const char* rest
    cdef Py_ssize_t nrest
    cdef int rtype
    if n > MAX_LINE:
        return "line too long"
    why = _split_log_line(p, n, &rtype, &rest, &nrest)
    if why != NULL:
        return why
    if cut != NULL and cut < rest:  # in a node= name: look again in the record
        cut = find_cut(rest, nrest)
    return read_record(rtype, rest, nrest, cut, r)


# -- the fields of a record --------------------------------------------------------

# _sys_field(key, n): which SYSCALL field a key is (F_...), or -1; and SYSCALL_FIELDS,
# the vocabulary this module was built from. Written at build time (vocab_pxi.py).
include "syscall_keys.pxi"


# The keys of a SYSCALL record in the order the kernel writes them (kernel/auditsc.c:
# audit_log_exit, audit_log_task_info; success and exit only when the call returned,
# an LSM's subj= before key=). Only a guess at the next key, to compare in place: a
# token is taken for one when its bytes are that `key=`, anything else is read the
# general way, and the guess goes on from the key it was.
cdef tuple _SYS_ORDER = ("arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3", "items",
                         "ppid", "pid", "auid", "uid", "gid", "euid", "suid", "fsuid", "egid",
                         "sgid", "fsgid", "tty", "ses", "comm", "exe", "key")

cdef enum:
    SYS_KEYS = 25
    SYS_SPAN_WORDS = 8  # a body's whitespace bitmap is made 512 bytes at a time
    SYS_SPAN = 64 * SYS_SPAN_WORDS

cdef godo_key _sys_keys[SYS_KEYS]


cdef int _init_sys_keys() except -1:
    cdef bytes raw
    if len(_SYS_ORDER) != SYS_KEYS:
        raise ImportError("SYS_KEYS is not the length of _SYS_ORDER")
    for i, name in enumerate(_SYS_ORDER):
        raw = name.encode() + b"="
        if len(raw) > 8:
            raise ImportError(f"SYSCALL key {name!r} is longer than a word")
        memset(&_sys_keys[i], 0, sizeof(godo_key))
        memcpy(&_sys_keys[i].word, <const char*>raw, len(raw))
        memset(&_sys_keys[i].mask, 0xff, len(raw))
        _sys_keys[i].len = len(raw)
        _sys_keys[i].field = _sys_field(raw, len(raw) - 1)
    return 0


_init_sys_keys()


cdef inline int _sys_key_after(const char* key, Py_ssize_t keylen, int guess) noexcept:
    """The guess that follows `key` in the kernel's order; `guess` when it is not there."""
    cdef int i
    for i in range(SYS_KEYS):
        if _sys_keys[i].len == keylen + 1 and memcmp(&_sys_keys[i].word, key, keylen) == 0:
            return i + 1
    return guess


cdef inline void _sys_set(Record* r, int f, Py_ssize_t off, Py_ssize_t n) noexcept:
    if f >= 0:  # a key written twice keeps its last value, as in a dict
        r.sys[f].off = off
        r.sys[f].len = n


cdef inline int _sys_token(Record* r, const char* body, Py_ssize_t start, Py_ssize_t end,
                           Py_ssize_t n, int guess) noexcept:
    """A SYSCALL body's token [start, end) (no whitespace, not empty), as godo_next_kv
    reads one: its key's field set from it when it has one. The next guess."""
    cdef const godo_key* k
    cdef const char* eq
    if guess < SYS_KEYS and n - start >= 8:
        k = &_sys_keys[guess]
        if godo_key_at(body + start, k):  # no whitespace in a key: it is in the token
            _sys_set(r, k.field, start + k.len, end - start - k.len)
            return guess + 1
    while start < end and body[start] == c'=':
        start += 1
    eq = <const char*>memchr(body + start, c'=', end - start)
    if eq == NULL:
        return guess
    _sys_set(r, _sys_field(body + start, eq - body - start), eq + 1 - body, end - (eq + 1 - body))
    return _sys_key_after(body + start, eq - body - start, guess)


cdef void _sys_fields(Record* r, const char* body, Py_ssize_t n) noexcept:
    """A SYSCALL body's fields into r.sys, as godo_next_kv's loop finds them: its
    tokens lie between the set bits of a bitmap of its whitespace."""
    cdef uint64_t bits[SYS_SPAN_WORDS]
    cdef uint64_t w
    cdef Py_ssize_t start = 0, span = 0, size, at, space, i
    cdef int f, guess = 0
    for f in range(NSYS):  # both halves: the compiler stores them a vector at a time
        r.sys[f].off = -1
        r.sys[f].len = -1
    while span < n:
        size = min(n - span, <Py_ssize_t>SYS_SPAN)
        godo_space_bits(body + span, size, bits)
        for i in range((size + 63) >> 6):
            w = bits[i]
            at = span + 64 * i
            while w:
                space = at + godo_ctz(w)
                w &= w - 1
                if space > start:
                    guess = _sys_token(r, body, start, space, n, guess)
                start = space + 1
        span += size
    if start < n:
        _sys_token(r, body, start, n, n, guess)


cdef inline bint _is_text(const char* s, Py_ssize_t n) noexcept:
    """A string field as the kernel writes one: absent (n < 0), "quoted", (null), or
    pairs of hex digits. Anything else is refused, never kept as the text it is."""
    cdef Py_ssize_t i
    cdef unsigned char c
    if n <= 0 or s[0] == c'"' or (n == 6 and memcmp(s, b"(null)", 6) == 0):
        return True
    if n & 1:
        return False
    for i in range(n):
        c = <unsigned char>s[i] | 0x20  # folds A-F to a-f (digits are unchanged)
        if not (c'0' <= c <= c'9' or c'a' <= c <= c'f'):
            return False
    return True


cdef const char* _execve_args(const char* body, Py_ssize_t n) noexcept:
    """Why an EXECVE record's arguments are malformed (one neither quoted nor hex), or NULL."""
    cdef const char* pos = body
    cdef const char* key
    cdef const char* val
    cdef Py_ssize_t keylen, vallen
    while godo_next_kv(&pos, body + n, &key, &keylen, &val, &vallen):
        if (keylen >= 2 and key[0] == c'a' and c'0' <= key[1] <= c'9'
                and not (keylen >= 4 and memcmp(key + keylen - 4, b"_len", 4) == 0)
                and not _is_text(val, vallen)):
            return "an argument is neither quoted nor hex"
    return NULL


cdef inline void _slice(Slice* s, const char* base, const char* value, Py_ssize_t n) noexcept:
    if value == NULL:
        s.len = -1
    else:
        s.off = value - base
        s.len = n


cdef const char* read_record(int rtype, const char* data, Py_ssize_t n, const char* cut,
                             Record* r) noexcept:
    """One record from the text after its type (`audit(...): body`): why it is
    malformed, or NULL with `r` filled. `cut`: its first 0x1d, NULL when it has none."""
    cdef Header h
    cdef const char* why = _split_header(data, n, cut, &h)
    cdef const char* val
    cdef Py_ssize_t vallen
    if why != NULL:
        return why
    r.type = rtype
    r.serial = h.serial
    r.ts = _ts(&h)
    r.body = h.body
    r.nbody = h.nbody
    if rtype == T_SYSCALL:
        _sys_fields(r, h.body, h.nbody)
        if not _is_text(h.body + r.sys[F_COMM].off, r.sys[F_COMM].len):
            return "comm is neither quoted nor hex"
        if not _is_text(h.body + r.sys[F_EXE].off, r.sys[F_EXE].len):
            return "exe is neither quoted nor hex"
        _slice(&r.names, h.body, h.extra, h.nextra)
    elif rtype == T_PATH:
        val = godo_field(h.body, h.nbody, b"name=", 5, &vallen)
        if val != NULL and not _is_text(val, vallen):
            return "name is neither quoted nor hex"
        _slice(&r.value, h.body, val, vallen)
        val = godo_field(h.body, h.nbody, b"nametype=", 9, &vallen)
        _slice(&r.nametype, h.body, val, vallen)
    elif rtype == T_CWD:
        r.value.len = -1
        if h.nbody >= 4 and memcmp(h.body, b"cwd=", 4) == 0:
            if not _is_text(h.body + 4, h.nbody - 4):
                return "cwd is neither quoted nor hex"
            _slice(&r.value, h.body, h.body + 4, h.nbody - 4)
    elif rtype == T_EXECVE:
        return _execve_args(h.body, h.nbody)
    elif rtype == T_PROCTITLE:
        r.value.len = -1
        if h.nbody >= 10 and memcmp(h.body, b"proctitle=", 10) == 0:
            _slice(&r.value, h.body, h.body + 10, h.nbody - 10)
    elif rtype == T_OPENAT2:
        # The kernel writes oflag=0%llo.
        val = godo_field(h.body, h.nbody, b"oflag=", 6, &vallen)
        r.has_oflag = False
        if val != NULL and vallen > 0:
            if godo_oct(val, vallen, &r.oflag) < 0:
                return "oflag is not octal"
            r.has_oflag = True
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
    why = _split_header(rest, nrest, find_cut(rest, nrest), &h)
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


cdef object _text_str(const char* s, Py_ssize_t n, char* scratch):
    """to_str(text(raw)); scratch has room for n // 2 bytes."""
    cdef const char* out
    cdef Py_ssize_t outn
    if not godo_text(s, n, scratch, &out, &outn):
        return None
    return PyUnicode_DecodeUTF8(out, outn, "backslashreplace")
