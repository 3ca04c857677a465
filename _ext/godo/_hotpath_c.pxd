# The compiled hot path's classes and per-event state; bodies in _ext/_hotpath_c.pyx.
# It sits in _ext/godo/ because setup.py builds the module as godo._hotpath_c and
# Cython looks a module's .pxd up by its package path under the include dirs.

cimport cython
from libc.stdint cimport int64_t, uint64_t


# The SYSCALL fields the cook reads, kept as slices of the event's arena.
cdef enum:
    F_ARCH, F_SYSCALL, F_SUCCESS, F_EXIT, F_A0, F_A1, F_A2, F_A3
    F_PID, F_PPID, F_UID, F_AUID, F_COMM, F_EXE
    NSYS


ctypedef struct Slice:
    Py_ssize_t off  # into the event's arena
    Py_ssize_t len  # -1: absent


ctypedef struct PathItem:
    Slice name
    Slice nametype


# The records of one serial until the event is complete: one malloc'd arena holds
# every byte kept, the rest are offsets into it.
ctypedef struct Event:
    int64_t serial
    double ts
    double born
    Py_ssize_t size  # what the byte budget charges it
    bint has_syscall
    Slice sys[NSYS]
    Slice cwd
    PathItem* paths
    Py_ssize_t npaths
    Py_ssize_t paths_cap
    Slice* execve
    Py_ssize_t nexecve
    Py_ssize_t execve_cap
    bint has_oflag
    int64_t oflag
    # Only while the PROCTITLE record that completes the event is read: it points
    # into the caller's buffer and is never kept.
    const char* proctitle
    Py_ssize_t proctitle_len
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


cdef class Activity:
    cdef public object kind, ts, serial, syscall, success, exit, pid, ppid, uid, auid
    cdef public object comm, exe, argv, argc, cwd, path, dirfd, fd, flags, mode, created, bytes
    cdef public object new_fd, max_fd, cloexec, child, thread, code, new_root, put_old
    cdef public object new_path, new_dirfd, target, signal, proctitle


cdef class _ArchTable:
    cdef uint64_t arch
    cdef Py_ssize_t size
    cdef int* codes  # cook code per syscall number, 0 for calls godo does not cook
    cdef list names


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

    cdef object get(self, const char* s, Py_ssize_t n, char* scratch)


# The last proctitle and its parts: a shell searching PATH fails one execve per
# directory, each with the same title.
@cython.final
cdef class _TitleCache:
    cdef char raw[512]
    cdef Py_ssize_t len
    cdef tuple parts


@cython.final
cdef class Pipeline:
    cdef public long long records, events, activities, malformed, evicted
    cdef public list errors
    cdef int64_t _window
    cdef Py_ssize_t _max_in_flight
    cdef double _timeout
    cdef Py_ssize_t _max_bytes

    cdef Event** _live  # in flight, in the order they started
    cdef Py_ssize_t _nlive
    cdef Py_ssize_t _live_cap
    cdef Event* _free
    cdef Py_ssize_t _nfree
    cdef int64_t _min_serial
    cdef bint _min_valid
    cdef int64_t _first_serial, _last_serial, _distinct
    cdef Py_ssize_t _bytes

    cdef char* _pend  # a log line cut at the end of the last chunk
    cdef Py_ssize_t _npend
    cdef bint _overlong
    cdef long long _lineno
    cdef object _source
    cdef long long _frames
    cdef object _why  # the message of the last malformed record or event

    cdef list _tables
    cdef _ArchTable _last_table
    cdef _TextCache _comm, _exe
    cdef _LastInt _pid, _ppid, _uid, _auid
    cdef _LastFloat _ts
    cdef _TitleCache _title
    cdef char* _bufs[4]  # scratch for decoding, joining and normalising text
    cdef Py_ssize_t _buf_caps[4]
    cdef ArgPart* _parts
    cdef Py_ssize_t _parts_cap

    cdef char* _buf(self, int slot, Py_ssize_t need) except NULL
    cdef int _log_line(self, const char* p, Py_ssize_t n, list out) except -1
    cdef int _hold(self, const char* p, Py_ssize_t n) except -1
    cdef int _bad(self, object where, object why) except -1
    cdef int _record(self, int rtype, const char* data, Py_ssize_t n, double now, list out) except -1
    cdef Event* _find(self, int64_t serial) noexcept
    cdef int64_t _oldest(self) noexcept
    cdef Event* _start(self, int64_t serial, double ts, double now, list out) except NULL
    cdef int _keep(self, Event* ev, Py_ssize_t n, list out) except -1
    cdef Py_ssize_t _put(self, Event* ev, const char* p, Py_ssize_t n) except -1
    cdef int _finish(self, Event* ev, list out) except -1
    cdef void _release(self, Event* ev) noexcept
    cdef int _cook(self, Event* ev, list out) except -1
    cdef inline int _dec_field(self, Event* ev, int f, int64_t* out) except -1
    cdef inline int _hex_field(self, Event* ev, int f, uint64_t* out) except -1
    cdef Activity _make(self, Event* ev, object kind, object name, object success, object exit)
    cdef int _argv(self, Event* ev, Activity act) except -1
    cdef object _proctitle(self, Event* ev)
    cdef object _path(self, Event* ev, const char* name, Py_ssize_t n, bint join)
    cdef object _cwd_str(self, Event* ev)
    cdef int _set_path(self, Activity act, Event* ev, int64_t dirfd, PathItem* item) except -1
    cdef PathItem* _file_item(self, Event* ev) noexcept
    cdef PathItem* _item_of(self, Event* ev, const char* kind, Py_ssize_t n) noexcept
