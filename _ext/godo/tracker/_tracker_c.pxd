# Types for godo/tracker/tracker.py compiled as godo.tracker._tracker_c (Cython's
# pure mode: setup.py compiles a copy of the .py, which stays the source and the
# twin). The handlers are called through the dispatch table by kind; each reads
# the compiled hot path's Activity as the struct it is.

cimport cython

from godo.hotpath._hotpath_c cimport Activity
from godo.tracker._model_c cimport Container, Context, OpenFile, Process


cdef long long _O_CLOEXEC


cdef class Tracker:
    cdef public object store, host, boot, scope, run, last_ts, checkpoint_interval
    cdef public bint live
    cdef public dict procs, containers, counts
    cdef dict _pending, _signalled, _recent_ends, _handlers
    cdef list _out
    cdef object _last_checkpoint
    cdef Context _ctx
    cdef long long _file_serial

    cdef str _proc_id(self, object pid, object start)
    cpdef _emit(self, bint dense=*)
    cdef Process _get(self, Activity act)
    cdef Process _materialise(self, Activity act, Process old, tuple spawn)
    @cython.locals(open_file=OpenFile)
    cdef Process _new_process(self, object pid, object ppid, Process parent, object start,
                              object snapshot=*)
    cdef bint _in_scope(self, Process proc, Process parent)
    cdef _count_container_process(self, Process proc, object ts)
    cdef _link(self, Process parent, Process child)
    cdef _enter_scope(self, Process proc, object ts)
    cpdef _end(self, Process proc, object ts, str status)
    cdef long long _file_serial_next(self)
    @cython.locals(base=OpenFile)
    cdef object _resolve(self, Process proc, object path, object dirfd)
    cdef OpenFile _file(self, Process proc, object fd, object ts)
    cdef _release(self, Process proc, object fd, object ts)
    cdef _inherit(self, Process proc, dict fds, object ts)

    cpdef _spawn(self, Activity act)
    cpdef _exec(self, Activity act)
    cpdef _exit(self, Activity act)
    cpdef _kill(self, Activity act)
    cpdef _open(self, Activity act)
    cpdef _write(self, Activity act)
    cpdef _close(self, Activity act)
    cpdef _dup(self, Activity act)
    cpdef _set_cloexec(self, Activity act)
    cpdef _pivot_root(self, Activity act)
    cpdef _chdir(self, Activity act)
    cpdef _fs_op(self, Activity act)
