# Types for godo/tracker/containers.py compiled as godo.tracker._containers_c
# (Cython's pure mode, as _tracker_c.pxd): between Files and the compiled Tracker,
# with the state the container attribution shares with it.

from godo.hotpath._hotpath_c cimport Activity
from godo.tracker._files_c cimport Files
from godo.tracker._model_c cimport Container, Context, Process


cdef class Containers(Files):
    cdef public object scope
    cdef Context _ctx

    cdef Container _box(self, object cid, object ts)
    cdef _count(self, Process proc, object ts, long step)
    cdef _attribute(self, Process proc, object cid, bint runtime, object ts)
    cdef _enter_scope(self, Process proc, object ts)
    cdef _describe(self, Container box, object call, object outer)
    cdef Container _cgroup_box(self, object found, object ts)
    cdef _runtime_exec(self, Process proc, object call, object ts)
    cdef bint _runs_oci_runtime(self, Process proc)
    cdef _place_exec(self, Process proc, bint runc_init, object ts)
    cpdef _pivot_root(self, Activity act)
    cdef _enter_workload(self, Process init, list moved, object ts)
    cdef _place_seeded(self, Process proc, Process parent, dict info)
