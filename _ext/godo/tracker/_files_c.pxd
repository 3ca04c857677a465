# Types for godo/tracker/files.py compiled as godo.tracker._files_c (Cython's pure
# mode, as _tracker_c.pxd): the base of the compiled Tracker, with the state the
# file handlers share with it.

cimport cython

from godo.hotpath._hotpath_c cimport Activity
from godo.tracker._model_c cimport OpenFile, Process

cdef long long _O_CLOEXEC


cdef class Files:
    cdef public bint live
    cdef public dict procs, containers, counts
    cdef list _out
    cdef long long _file_serial

    cdef Process _get(self, Activity act)
    cdef long long _file_serial_next(self)
    @cython.locals(base=OpenFile)
    cdef object _resolve(self, Process proc, object path, object dirfd)
    cdef OpenFile _file(self, Process proc, object fd, object ts)
    cdef _release(self, Process proc, object fd, object ts)
    cdef _inherit(self, Process proc, dict fds, object ts)
    cpdef _open(self, Activity act)
    cpdef _write(self, Activity act)
    cpdef _close(self, Activity act)
    cpdef _dup(self, Activity act)
    cpdef _set_cloexec(self, Activity act)
