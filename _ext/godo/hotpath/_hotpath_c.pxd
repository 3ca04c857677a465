# The compiled hot path's records, events and stages; bodies in parse.pxi,
# assemble.pxi, cook.pxi and _hotpath_c.pyx (the Pipeline). Activity is written
# from the vocabulary's field list at build time (activity_fields.pxi, activity.pxi).

cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t

include "activity_fields.pxi"


# The SYSCALL fields the cook reads, F_ARCH... in vocab.records.SYSCALL_FIELDS order,
# and NSYS, their count: written from the vocabulary at build time (vocab_pxi.py).
include "syscall_fields.pxi"


ctypedef struct Slice:
    Py_ssize_t off
    Py_ssize_t len  # -1: absent


ctypedef struct PathItem:
    Slice name
    Slice nametype


# A record as the parser read it, pointing into the caller's buffer: slices are
# offsets into `body`.
ctypedef struct Record:
    int type
    int64_t serial
    double ts
    const char* body
    Py_ssize_t nbody
    Slice sys[NSYS]  # SYSCALL
    Slice names  # SYSCALL: an ENRICHED log's part after 0x1d
    Slice value  # PATH: name; CWD: cwd; PROCTITLE: the title
    Slice nametype  # PATH
    bint has_oflag  # OPENAT2
    int64_t oflag


# The records of one serial until the event is complete: one malloc'd arena holds
# every byte kept, the rest are offsets into it.
ctypedef struct Event:
    int64_t serial
    double ts
    double born
    Py_ssize_t size  # what the byte budget charges it
    bint has_syscall
    Slice sys[NSYS]  # offsets from sys_off: the SYSCALL record's body in the arena
    Py_ssize_t sys_off
    Slice names  # the SYSCALL record's ENRICHED part, in the arena
    Slice cwd
    Slice proctitle
    PathItem* paths
    Py_ssize_t npaths
    Py_ssize_t paths_cap
    Slice* execve
    Py_ssize_t nexecve
    Py_ssize_t execve_cap
    bint has_oflag
    int64_t oflag
    char* arena
    Py_ssize_t used
    Py_ssize_t cap
    Event* next_free


# One `aN=` or `aN[i]=` of the EXECVE records, sorted into argv at cook time.
ctypedef struct ArgPart:
    int64_t index
    int64_t piece  # -1: the whole argument
    Py_ssize_t seq  # order seen: the last of equal keys wins, as in a dict
    const char* val
    Py_ssize_t len


@cython.final
cdef class Assembler:
    cdef long long records, events, evicted
    cdef int64_t window
    cdef Py_ssize_t max_in_flight
    cdef double timeout
    cdef Py_ssize_t max_bytes

    cdef Event** live  # in flight, in the order they started
    cdef Py_ssize_t nlive, live_cap
    cdef Event** done  # complete, in the order they completed, until cooked and released
    cdef Py_ssize_t ndone, done_cap
    cdef Event* free
    cdef Py_ssize_t nfree
    cdef int64_t min_serial
    cdef bint min_valid
    cdef int64_t first_serial, last_serial, distinct
    cdef Py_ssize_t bytes

    cdef int add(self, Record* r, double now) except -1
    cdef Event* _find(self, int64_t serial) noexcept
    cdef int64_t _oldest(self) noexcept
    cdef Event* _start(self, int64_t serial, double ts, double now) except NULL
    cdef int _keep(self, Event* ev, Py_ssize_t n) except -1
    cdef Py_ssize_t _put(self, Event* ev, const char* p, Py_ssize_t n) except -1
    cdef inline int _put_slice(self, Event* ev, Slice* into, Record* r, Slice value) except -1
    cdef int _finish(self, Event* ev) except -1
    cdef int expire(self, double now) except -1
    cdef int flush(self) except -1
    cdef void release(self, Event* ev) noexcept


cdef class _ArchTable:
    cdef uint64_t arch
    cdef object name  # the arch's, as activities give it
    cdef uint64_t tmpfile  # O_TMPFILE as it numbers it
    cdef Py_ssize_t size
    cdef int* codes  # cook code per syscall number, 0 for calls godo does not cook
    cdef list names


# Where a field of an activity is among a call's arguments: a vocab.calls.Arg.
ctypedef struct Source:
    int form  # vocab.calls' INT, U32, WORD, BIT, CONST, OPENAT2_FLAGS, FLAG; 0: no such field
    int reg  # a0..a3
    uint64_t mask  # BIT's and FLAG's
    uint64_t value  # CONST's, as a number; FLAG's without its extra bits
    uint64_t extra  # FLAG's
    PyObject* obj  # CONST's, as the row gives it (the _Call keeps it alive)


# One row of vocab.calls, as the cook interprets it.
@cython.final
cdef class _Call:
    cdef int kind  # its place in vocab.calls.KINDS
    cdef bint decides  # its arguments or result decide the kind, or whether there is one
    cdef Source fd, flags, mode, dirfd, new_dirfd, max_fd, target, signal, code, thread
    cdef Source cloexec, marks, command
    cdef int path, new_path  # vocab.calls' FILE, DELETED, CREATED; 0: none
    cdef list keep  # the Args whose values the Sources point at


# The last value of a field and its Python object: consecutive events mostly come
# from one process at one millisecond, so most activities share these objects.
@cython.final
cdef class _LastInt:
    cdef int64_t key
    cdef object value

    cdef inline object get(self, int64_t key):
        if self.value is None or key != self.key:
            self.key = key
            self.value = key
        return self.value


@cython.final
cdef class _LastFloat:
    cdef double key
    cdef object value

    cdef inline object get(self, double key):
        if self.value is None or key != self.key:
            self.key = key
            self.value = key
        return self.value


@cython.final
cdef class _TextCache:
    cdef char raw[128]
    cdef Py_ssize_t len
    cdef object value
    cdef bint bare  # the value as written (tty=), not a text field

    cdef object get(self, const char* s, Py_ssize_t n, char* scratch)


# The last proctitle and its parts: a shell searching PATH fails one execve per
# directory, each with the same title.
@cython.final
cdef class _TitleCache:
    cdef char raw[512]
    cdef Py_ssize_t len
    cdef tuple parts


@cython.final
cdef class Cook:
    cdef object why  # why the last event could not be cooked
    cdef list tables
    cdef list calls  # _Call by cook code
    cdef _ArchTable last_table
    cdef _TextCache comm, exe, tty
    cdef _LastInt pid, ppid, uid, auid, euid, suid, gid, egid, ses
    cdef _LastFloat ts
    cdef _TitleCache title
    cdef char* bufs[4]  # scratch for decoding, joining and normalising text
    cdef Py_ssize_t buf_caps[4]
    cdef ArgPart* parts
    cdef Py_ssize_t parts_cap

    cdef char* _buf(self, int slot, Py_ssize_t need) except NULL
    cdef inline int _dec_field(self, Event* ev, int f, int64_t* out) except -1
    cdef inline int _hex_field(self, Event* ev, int f, uint64_t* out) except -1
    cdef _ArchTable _table(self, uint64_t arch)
    cdef object _make(self, Event* ev, object kind, object name, object arch, object success,
                      object exit)
    cdef object _id_field(self, Event* ev, int f, _LastInt last)
    cdef object _names(self, Event* ev)
    cdef int cook(self, Event* ev, list out) except -1
    cdef int _argv(self, Event* ev, object act) except -1
    cdef object _proctitle(self, Event* ev)
    cdef object _path(self, Event* ev, const char* name, Py_ssize_t n, bint join)
    cdef object _cwd_str(self, Event* ev)
    cdef int _set_path(self, object act, Event* ev, int64_t dirfd, PathItem* item) except -1
    cdef int _place(self, object act, Event* ev, _Call row, int kind, const uint64_t* regs) except -1
    cdef PathItem* _item(self, Event* ev, int which) noexcept
    cdef PathItem* _file_item(self, Event* ev) noexcept
    cdef PathItem* _item_of(self, Event* ev, const char* kind, Py_ssize_t n) noexcept


@cython.final
cdef class Pipeline:
    cdef public long long activities, malformed
    cdef public list errors
    cdef Assembler _asm
    cdef Cook _cook
    cdef list _out  # the activities of the batch being read

    cdef char* _pend  # a log line cut at the end of the last chunk
    cdef Py_ssize_t _npend
    cdef bint _overlong
    cdef long long _lineno
    cdef object _source
    cdef long long _frames

    cdef int _log_line(self, const char* p, Py_ssize_t n, const char* cut) except -1
    cdef int _hold(self, const char* p, Py_ssize_t n) except -1
    cdef int _record(self, int rtype, const char* data, Py_ssize_t n, double now,
                     long long frame) except -1
    cdef inline int _file(self, Record* r, double now, long long frame) except -1
    cdef int _bad(self, object where, object why) except -1
    cdef int _refuse(self, long long frame, object why) except -1
    cdef int _cook_done(self) except -1
    cdef list _batch(self)
