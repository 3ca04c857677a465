# Types for godo/tracker/tracker.py compiled as godo._tracker_c.tracker (Cython's
# pure mode: the .py is the source and the pure-Python twin). process() calls
# the handler of each activity's kind in C; each reads the compiled hot path's
# Activity as the struct it is, and calls its part (Files, Containers) in C.

cimport cython

from godo.hotpath._hotpath_c cimport Activity
from godo._tracker_c.containers cimport Containers
from godo._tracker_c.files cimport Files
from godo._tracker_c.model cimport Context, OpenFile, Process, utc
from godo._tracker_c.paths cimport join, real_exe

# The bounds: C constants of the compiled part.
cdef Py_ssize_t _MAX_CHILDREN, _MAX_FS_OPS, _MAX_PENDING_SPAWNS, _RECENT_ENDS
# The kinds handled, by number.
cdef int _OPEN, _CLOSE, _WRITE, _FS_OP, _DUP, _CLOEXEC, _EXEC, _SPAWN, _EXIT, _CHDIR, _KILL
cdef int _PIVOT_ROOT
cdef dict _KIND_NUMBERS


cdef class Tracker:
    cdef public object store, host, boot, scope, run, last_ts, checkpoint_interval
    cdef public bint live
    cdef public dict procs, containers
    cdef dict _counts, _pending, _signalled, _recent_ends
    cdef list _out
    cdef object _last_checkpoint
    cdef Context _ctx
    cdef Process _command
    cdef Files _files
    cdef Containers _boxes

    cdef str _proc_id(self, object pid, object start)
    @cython.locals(act=Activity, kind=int)
    cpdef process(self, list activities, bint dense=*)
    cpdef _emit(self, bint dense=*)
    @cython.locals(proc=Process)
    cdef Process _get(self, Activity act)
    cdef _take_task(self, Process proc, Activity act)
    @cython.locals(cloner=Process, parent=Process, proc=Process)
    cdef Process _materialise(self, Activity act, Process old, tuple spawn)
    @cython.locals(open_file=OpenFile)
    cdef Process _new_process(self, object pid, object ppid, Process parent, object start,
                              object snapshot=*)
    @cython.locals(cloner=Process)
    cdef bint _cloned_parent(self, object cloner_pid, object ppid)
    cdef bint _in_scope(self, Process proc, Process parent)
    cdef _link(self, Process parent, Process child)
    cpdef _end(self, Process proc, object ts, str status)

    @cython.locals(parent=Process, existing=Process)
    cdef _spawn(self, Activity act)
    cdef _exec(self, Activity act)
    cdef _exit(self, Activity act)
    cdef _kill(self, Activity act)
    cdef _open(self, Activity act)
    cdef _write(self, Activity act)
    cdef _close(self, Activity act)
    cdef _dup(self, Activity act)
    cdef _set_cloexec(self, Activity act)
    cdef _pivot_root(self, Activity act)
    @cython.locals(proc=Process, base=OpenFile)
    cdef _chdir(self, Activity act)
    @cython.locals(path=str)
    cdef _fs_op(self, Activity act)
