# Types for godo/tracker/containers.py compiled as godo._tracker_c.containers
# (Cython's pure mode): the container part, its own state, and the calls the
# compiled tracker makes of it in C.

from godo.hotpath._hotpath_c cimport Activity
from godo._tracker_c.model cimport Container, Context, Process
from godo._tracker_c.paths cimport join


cdef class Containers:
    cdef public dict containers, counts
    cdef public object scope
    cdef public bint live
    cdef dict _procs
    cdef Context _ctx

    cdef Container _box(self, object cid, object ts)
    cdef count(self, Process proc, object ts, long step)
    cdef wrote(self, Process proc)
    cdef ended(self, Process proc, object ts, str status)
    cdef _attribute(self, Process proc, object cid, bint runtime, object ts)
    cdef _enter_scope(self, Process proc, object ts)
    cdef _describe(self, Container box, object call, object outer)
    cdef Container _cgroup_box(self, object found, object ts)
    cdef _runtime_exec(self, Process proc, object call, object ts)
    cdef bint runs_oci_runtime(self, Process proc) except -1
    cdef place_exec(self, Process proc, bint runc_init, object ts)
    cdef pivot_root(self, Process proc, Activity act)
    cdef _enter_workload(self, Process init, list moved, object ts)
    cdef place_seeded(self, Process proc, Process parent, dict info)
