# Assembler, compiled: Records -> complete Events.
#
# The twin of godo/hotpath/_assemble_py.py: the same completion rules (PROCTITLE,
# EOE, the serial window, the time-out, max_in_flight, the byte budget). An
# event's kept bytes are copied into its own arena (one malloc'd block), the rest
# are offsets into it; events are pooled. Completed events wait in `done`, in the
# order they completed, until the pipeline has cooked them (after the record that
# completed them) and `release` gives them back.

cdef enum:
    POOL_KEEP = 64
    ARENA_KEEP = 65536
    ARRAY_KEEP = 64


cdef int _cmp_serials(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<Event**>a)[0].serial
    cdef int64_t y = (<Event**>b)[0].serial
    return -1 if x < y else (1 if x > y else 0)


cdef void _free_event(Event* ev) noexcept:
    PyMem_Free(ev.arena)
    PyMem_Free(ev.paths)
    PyMem_Free(ev.execve)
    PyMem_Free(ev)


@cython.final
cdef class Assembler:

    def __cinit__(self):
        self.first_serial = -1
        self.last_serial = -1

    def __dealloc__(self):
        cdef Py_ssize_t i
        cdef Event* ev
        for i in range(self.nlive):
            _free_event(self.live[i])
        for i in range(self.ndone):
            _free_event(self.done[i])
        while self.free != NULL:
            ev = self.free
            self.free = ev.next_free
            _free_event(ev)
        PyMem_Free(self.live)
        PyMem_Free(self.done)

    cdef int add(self, Record* r, double now) except -1:
        """File one record: 0, or 1 when its event refuses it (too large)."""
        cdef Event* ev
        cdef PathItem* item
        cdef int rtype = r.type
        self.records += 1
        if not _is_multi(rtype):
            if rtype == T_EOE:
                ev = self._find(r.serial)
                if ev != NULL:
                    self._finish(ev)
            return 0
        ev = self._find(r.serial)
        if ev == NULL:
            ev = self._start(r.serial, r.ts, now)
        if rtype == T_SYSCALL or rtype == T_PATH or rtype == T_CWD or rtype == T_EXECVE:
            if self._keep(ev, r.nbody):
                return 1
        if rtype == T_SYSCALL:
            ev.sys_off = self._put(ev, r.body, r.nbody)
            godo_copy16(ev.sys, r.sys, sizeof(ev.sys))  # not memcpy: see godo_copy16
            ev.has_syscall = True
            # Not charged to the budget (as in the pure twin): one per record, bounded by its line.
            self._put_slice(ev, &ev.names, r, r.names)
        elif rtype == T_PATH:
            if ev.npaths == ev.paths_cap:
                ev.paths_cap = max(4, 2 * ev.paths_cap)
                ev.paths = <PathItem*>PyMem_Realloc(ev.paths, ev.paths_cap * sizeof(PathItem))
                if ev.paths == NULL:
                    ev.npaths = ev.paths_cap = 0
                    raise MemoryError()
            item = &ev.paths[ev.npaths]
            self._put_slice(ev, &item.name, r, r.value)
            self._put_slice(ev, &item.nametype, r, r.nametype)
            ev.npaths += 1
        elif rtype == T_CWD:
            self._put_slice(ev, &ev.cwd, r, r.value)
        elif rtype == T_PROCTITLE:
            self._put_slice(ev, &ev.proctitle, r, r.value)
            self._finish(ev)
        elif rtype == T_EXECVE:
            if ev.nexecve == ev.execve_cap:
                ev.execve_cap = max(4, 2 * ev.execve_cap)
                ev.execve = <Slice*>PyMem_Realloc(ev.execve, ev.execve_cap * sizeof(Slice))
                if ev.execve == NULL:
                    ev.nexecve = ev.execve_cap = 0
                    raise MemoryError()
            ev.execve[ev.nexecve].off = self._put(ev, r.body, r.nbody)
            ev.execve[ev.nexecve].len = r.nbody
            ev.nexecve += 1
        elif rtype == T_OPENAT2:
            ev.has_oflag = r.has_oflag
            ev.oflag = r.oflag
        return 0

    cdef Event* _find(self, int64_t serial) noexcept:
        # Newest first: an event's records come together, behind its first one.
        cdef Py_ssize_t i = self.nlive
        while i > 0:
            i -= 1
            if self.live[i].serial == serial:
                return self.live[i]
        return NULL

    cdef int64_t _oldest(self) noexcept:
        cdef Py_ssize_t i
        if not self.min_valid:
            self.min_serial = self.live[0].serial
            for i in range(1, self.nlive):
                if self.live[i].serial < self.min_serial:
                    self.min_serial = self.live[i].serial
            self.min_valid = True
        return self.min_serial

    cdef Event* _start(self, int64_t serial, double ts, double now) except NULL:
        cdef Event* ev
        cdef Event** live
        cdef Py_ssize_t i, cap
        if self.first_serial < 0:
            self.first_serial = serial
        if serial > self.last_serial:
            self.last_serial = serial
        self.distinct += 1
        # Logs carry no EOE: an event far behind the newest serial is done.
        if self.window and self.nlive and serial - self.window > self._oldest():
            i = 0
            while i < self.nlive:
                if self.live[i].serial < serial - self.window:
                    self._finish(self.live[i])
                else:
                    i += 1
        if self.nlive and self.nlive >= self.max_in_flight:
            self.evicted += 1
            self._finish(self._find(self._oldest()))
        if self.nlive == self.live_cap:
            cap = max(16, 2 * self.live_cap)
            live = <Event**>PyMem_Realloc(self.live, cap * sizeof(Event*))
            if live == NULL:
                raise MemoryError()
            self.live = live
            self.live_cap = cap
        if self.free != NULL:
            ev = self.free
            self.free = ev.next_free
            self.nfree -= 1
        else:
            ev = <Event*>PyMem_Malloc(sizeof(Event))
            if ev == NULL:
                raise MemoryError()
            memset(ev, 0, sizeof(Event))
            ev.cwd.len = -1
            ev.proctitle.len = -1
            ev.names.len = -1
        ev.serial = serial
        ev.ts = ts
        ev.born = now
        ev.next_free = NULL
        if self.nlive == 0:
            self.min_serial = serial
            self.min_valid = True
        elif self.min_valid and serial < self.min_serial:
            self.min_serial = serial
        self.live[self.nlive] = ev
        self.nlive += 1
        return ev

    cdef int _keep(self, Event* ev, Py_ssize_t n) except -1:
        """Account for a record the event keeps; past the byte budget the oldest
        other events are completed early, and an event alone over it refuses it (1)."""
        cdef Py_ssize_t cost = n + RECORD_COST, i
        cdef Event* oldest
        if ev.size + cost > self.max_bytes:
            return 1
        ev.size += cost
        self.bytes += cost
        while self.bytes > self.max_bytes:
            oldest = NULL
            for i in range(self.nlive):
                if self.live[i] != ev and (oldest == NULL or self.live[i].serial < oldest.serial):
                    oldest = self.live[i]
            self.evicted += 1
            self._finish(oldest)
        return 0

    cdef Py_ssize_t _put(self, Event* ev, const char* p, Py_ssize_t n) except -1:
        """Copy bytes into the event's arena; their offset there."""
        cdef Py_ssize_t cap, off = ev.used
        cdef char* arena
        if ev.used + n > ev.cap:
            cap = max(ev.used + n, 2 * ev.cap, 1024)
            arena = <char*>PyMem_Realloc(ev.arena, cap)
            if arena == NULL:
                raise MemoryError()
            ev.arena = arena
            ev.cap = cap
        memcpy(ev.arena + off, p, n)
        ev.used += n
        return off

    cdef int _put_slice(self, Event* ev, Slice* into, Record* r, Slice value) except -1:
        """A slice of the record's body, copied into the event: `into` says where."""
        into.len = value.len
        if value.len >= 0:
            into.off = self._put(ev, r.body + value.off, value.len)
        return 0

    cdef int _finish(self, Event* ev) except -1:
        """Take an event out of flight into `done`."""
        cdef Py_ssize_t i = self.nlive, cap
        cdef Event** done
        while i > 0:
            i -= 1
            if self.live[i] == ev:
                break
        if GODO_DEBUG:
            assert self.live[i] == ev, "finishing an event that is not in flight"
        memmove(self.live + i, self.live + i + 1, (self.nlive - i - 1) * sizeof(Event*))
        self.nlive -= 1
        self.bytes -= ev.size
        if ev.serial == self.min_serial:
            self.min_valid = False
        self.events += 1
        if self.ndone == self.done_cap:
            cap = max(64, 2 * self.done_cap)
            done = <Event**>PyMem_Realloc(self.done, cap * sizeof(Event*))
            if done == NULL:
                _free_event(ev)  # out of flight and of memory: it is lost, as the error says
                raise MemoryError()
            self.done = done
            self.done_cap = cap
        self.done[self.ndone] = ev
        self.ndone += 1
        return 0

    cdef int expire(self, double now) except -1:
        """Complete live events whose EOE has not come within the time-out."""
        cdef double limit = now - self.timeout
        cdef Py_ssize_t i = 0
        while i < self.nlive:
            if self.live[i].born <= limit:
                self._finish(self.live[i])
            else:
                i += 1
        return 0

    cdef int flush(self) except -1:
        """End of input: every event in flight is complete, oldest serial first."""
        if self.nlive:
            qsort(self.live, self.nlive, sizeof(Event*), _cmp_serials)
            while self.nlive:
                self._finish(self.live[0])
        return 0

    cdef void release(self, Event* ev) noexcept:
        """Give a completed event's memory back (to the pool, while it is small)."""
        if self.nfree >= POOL_KEEP:
            _free_event(ev)
            return
        # Pooled events keep their buffers, unless a big event grew them.
        if ev.cap > ARENA_KEEP:
            PyMem_Free(ev.arena)
            ev.arena = NULL
            ev.cap = 0
        if ev.paths_cap > ARRAY_KEEP:
            PyMem_Free(ev.paths)
            ev.paths = NULL
            ev.paths_cap = 0
        if ev.execve_cap > ARRAY_KEEP:
            PyMem_Free(ev.execve)
            ev.execve = NULL
            ev.execve_cap = 0
        ev.used = 0
        ev.size = 0
        ev.has_syscall = False
        ev.cwd.len = -1
        ev.proctitle.len = -1
        ev.names.len = -1
        ev.npaths = 0
        ev.nexecve = 0
        ev.has_oflag = False
        ev.next_free = self.free
        self.free = ev
        self.nfree += 1

    @property
    def serial_gaps(self):
        if self.first_serial < 0:
            return 0
        return max(0, self.last_serial - self.first_serial + 1 - self.distinct)
