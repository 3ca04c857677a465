# Types for godo/tracker/tracker.py compiled as godo.tracker._tracker_c (Cython's
# pure mode: setup.py compiles a copy of the .py, which stays the source and the
# twin). The handlers are called through the dispatch table by kind; each reads
# the compiled hot path's Activity as the struct it is.

cimport cython

from godo.hotpath._hotpath_c cimport Activity
from godo.tracker._containers_c cimport Containers
from godo.tracker._files_c cimport Files  # (the base of Containers: its methods are named here)
from godo.tracker._model_c cimport OpenFile, Process


cdef class Tracker(Containers):
    cdef public object store, host, boot, run, last_ts, checkpoint_interval
    cdef dict _pending, _signalled, _recent_ends, _handlers
    cdef object _last_checkpoint
    cdef Process _command

    cdef str _proc_id(self, object pid, object start)
    cpdef _emit(self, bint dense=*)
    cdef Process _get(self, Activity act)
    cdef _take_task(self, Process proc, Activity act)
    cdef Process _materialise(self, Activity act, Process old, tuple spawn)
    @cython.locals(open_file=OpenFile)
    cdef Process _new_process(self, object pid, object ppid, Process parent, object start,
                              object snapshot=*)
    cdef bint _cloned_parent(self, object cloner_pid, object ppid)
    cdef bint _in_scope(self, Process proc, Process parent)
    cdef _link(self, Process parent, Process child)
    cpdef _end(self, Process proc, object ts, str status)

    cpdef _spawn(self, Activity act)
    cpdef _exec(self, Activity act)
    cpdef _exit(self, Activity act)
    cpdef _kill(self, Activity act)
    cpdef _chdir(self, Activity act)
    cpdef _fs_op(self, Activity act)
