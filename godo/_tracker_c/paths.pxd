# Types for godo/tracker/paths.py compiled as godo._tracker_c.paths (Cython's pure
# mode): called in C by the compiled parts for most activities.

cimport cython


@cython.locals(head=str, path=str)
cpdef str join(str base, str name)
cpdef object real_exe(str exe, str known)
