# Types for godo/tracker/files.py compiled as godo._tracker_c.files (Cython's pure
# mode): the file part, its own state, and the calls the compiled tracker makes
# of it in C.

cimport cython

from godo.hotpath._hotpath_c cimport Activity
from godo._tracker_c.model cimport OpenFile, Process, new_open_file
from godo._tracker_c.paths cimport join, real_exe

cdef long long _O_CLOEXEC


cdef class Files:
    cdef public bint live
    cdef public long long closed
    cdef list _out
    cdef long long _serial

    cdef long long _next_serial(self)
    @cython.locals(base=OpenFile)
    cdef str resolve(self, Process proc, str path, object dirfd)
    @cython.locals(open_file=OpenFile, path=str, bits=cython.longlong)
    cdef open(self, Process proc, Activity act)
    cdef OpenFile file(self, Process proc, object fd, object ts)
    @cython.locals(open_file=OpenFile, first=bint, nbytes=cython.longlong)
    cdef bint write(self, Process proc, Activity act) except -1
    cdef close(self, Process proc, Activity act)
    @cython.locals(open_file=OpenFile)
    cdef release(self, Process proc, object fd, object ts)
    cdef dup(self, Process proc, Activity act)
    cdef set_cloexec(self, Process proc, Activity act)
    cdef inherit(self, Process proc, dict fds, object ts)
    cdef OpenFile _inherited(self, Process proc, object fd, object path, object ts)
