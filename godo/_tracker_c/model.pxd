# Types for godo/tracker/model.py compiled as godo._tracker_c.model (Cython's pure
# mode: the .py is the source and the pure-Python twin).
# Attributes a value may be None in stay objects; counters are C integers.

cimport cython

# The caches of stamps and flag names: C globals, read in C on every call.
cdef dict _UTC_CACHE, _FLAG_NAMES
cdef Py_ssize_t _UTC_CACHE_SIZE, _FLAG_NAMES_SIZE
cdef object _UTC

cpdef object utc(object ts)
cpdef tuple bound_argv(object argv)
cpdef object flag_names(object flags, object arch)


cdef class Context:
    cdef public object host, boot, run


cdef class Process


cdef long long _O_TRUNC, _O_ACCMODE


@cython.freelist(1024)
cdef class OpenFile:
    cdef public object proc, path, host_path, flags, arch, mode, opened, closed
    cdef public object first_write, last_write, writers, comm, exe, container
    cdef public long long serial, fd, writes, bytes, refs
    cdef public bint created, truncated, inherited, dirty, runtime

    @cython.locals(bits=cython.longlong)
    cdef OpenFile _set(self, long long serial, object proc, long long fd, object path,
                       object flags, object arch, object mode, object opened, bint created,
                       bint inherited, long long refs)
    @cython.locals(proc=Process)
    cpdef OpenFile seal(self)
    @cython.locals(proc=Process, ctx=Context)
    cpdef dict document(self)


@cython.locals(made=OpenFile)
cpdef OpenFile new_open_file(long long serial, Process proc, long long fd, object path,
                            object flags, object arch, object mode, object opened,
                            bint created, bint inherited)


cdef class Process:
    # pid and ppid stay the ints the records gave: they are the process table's
    # keys, and compared with each activity's ppid.
    cdef public object id, pid, ppid, parent, start, comm, exe, argv, cwd, uid, auid
    cdef public object euid, suid, gid, egid, ses, tty, names
    cdef public object exit_time, exit_code, signal, status, container, shim_id, root
    cdef public dict fds         # None for a process out of scope
    cdef public set cloexec
    cdef public object fs_ops, proc_start, argv_cut
    cdef public list execs, children
    cdef public long long children_count, threads, files_written, execs_dropped
    cdef public bint in_scope, dirty, seeded, runtime, audited
    cdef public Context ctx

    cpdef set_argv(self, object argv)
    cpdef add_exec(self, dict run)
    @cython.locals(ctx=Context)
    cpdef dict document(self)


cdef class Container:
    cdef public object id, name, namespace, engine, pod, rootfs, init, init_pid, first, last
    cdef public object exit_code, signal, status
    cdef public long long processes, runtime_processes, files_written
    cdef public bint dirty
    cdef public Context ctx

    cpdef dict document(self)
