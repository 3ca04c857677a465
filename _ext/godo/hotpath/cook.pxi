# Cook, compiled: complete Events -> Activities.
#
# The twin of godo/hotpath/_cook_py.py: an interpreter of the calls' rows
# (vocab.calls, loaded as _Call objects by cook_tables.pxi). A row gives the kind
# and where each field is among the call's arguments; what a kind means is read
# here from the event's records. Python objects are made only for the activity.

@cython.final
cdef class Cook:

    def __cinit__(self):
        self.tables = [_ArchTable(arch) for arch in S.ARCH_NAMES]
        self.calls = [None] + [_Call(row) for row in CALLS.CALLS]
        self.comm = _TextCache()
        self.exe = _TextCache()
        self.tty = _TextCache()
        self.tty.bare = True
        self.pid, self.ppid, self.uid, self.auid = _LastInt(), _LastInt(), _LastInt(), _LastInt()
        self.euid, self.suid, self.gid, self.egid = _LastInt(), _LastInt(), _LastInt(), _LastInt()
        self.ses = _LastInt()
        self.ts = _LastFloat()
        self.title = _TitleCache()

    def __dealloc__(self):
        cdef int i
        PyMem_Free(self.parts)
        for i in range(4):
            PyMem_Free(self.bufs[i])

    cdef char* _buf(self, int slot, Py_ssize_t need) except NULL:
        """Scratch buffer `slot`, with room for `need` bytes; earlier contents of the
        same slot may move, other slots stay put."""
        cdef Py_ssize_t cap
        cdef char* mem
        if need > self.buf_caps[slot] or self.bufs[slot] == NULL:
            cap = max(need, 2 * self.buf_caps[slot], 256)
            mem = <char*>PyMem_Realloc(self.bufs[slot], cap)
            if mem == NULL:
                raise MemoryError()
            self.bufs[slot] = mem
            self.buf_caps[slot] = cap
        return self.bufs[slot]

    cdef inline int _dec_field(self, Event* ev, int f, int64_t* out) except -1:
        cdef Slice s = ev.sys[f]
        if s.len < 0:
            self.why = _MISSING[f]
            return 1
        if godo_dec(ev.arena + ev.sys_off + s.off, s.len, out) < 0:
            self.why = _NOT_NUMBER[f]
            return 1
        return 0

    cdef inline int _hex_field(self, Event* ev, int f, uint64_t* out) except -1:
        cdef Slice s = ev.sys[f]
        if s.len < 0:
            self.why = _MISSING[f]
            return 1
        if godo_hex(ev.arena + ev.sys_off + s.off, s.len, out) < 0:
            self.why = _NOT_HEX[f]
            return 1
        return 0

    cdef _ArchTable _table(self, uint64_t arch):
        cdef _ArchTable table = self.last_table
        if table is not None and table.arch == arch:
            return table
        for t in self.tables:
            if (<_ArchTable>t).arch == arch:
                self.last_table = t
                return t
        return None

    cdef object _id_field(self, Event* ev, int f, _LastInt last):
        """An id the record may lack: its value, None when absent, _BAD (self.why) when bad."""
        cdef int64_t value
        if ev.sys[f].len < 0:
            return None
        if self._dec_field(ev, f, &value):
            return _BAD
        return last.get(value)

    cdef object _make(self, Event* ev, object kind, object name, object arch, object success,
                      object exit):
        """The activity with the SYSCALL record's fields, or None when one is bad."""
        cdef int64_t pid, ppid, uid, auid
        cdef object euid = None, suid = None, gid = None, egid = None, ses = None
        cdef Activity act
        cdef Slice s
        if (self._dec_field(ev, F_PID, &pid) or self._dec_field(ev, F_PPID, &ppid)
                or self._dec_field(ev, F_UID, &uid) or self._dec_field(ev, F_AUID, &auid)):
            return None
        # One at a time: the first bad one is the one told.
        euid = self._id_field(ev, F_EUID, self.euid)
        if euid is _BAD:
            return None
        suid = self._id_field(ev, F_SUID, self.suid)
        if suid is _BAD:
            return None
        gid = self._id_field(ev, F_GID, self.gid)
        if gid is _BAD:
            return None
        egid = self._id_field(ev, F_EGID, self.egid)
        if egid is _BAD:
            return None
        ses = self._id_field(ev, F_SES, self.ses)
        if ses is _BAD:
            return None
        act = Activity.__new__(Activity)
        act.kind = kind
        act.ts = self.ts.get(ev.ts)
        act.serial = ev.serial
        act.syscall = name
        act.arch = arch
        act.success = success
        act.exit = exit
        act.pid = self.pid.get(pid)
        act.ppid = self.ppid.get(ppid)
        act.uid = self.uid.get(uid)
        act.auid = self.auid.get(auid)
        s = ev.sys[F_COMM]
        if s.len >= 0:
            act.comm = self.comm.get(ev.arena + ev.sys_off + s.off, s.len, self._buf(0, s.len // 2 + 1))
        s = ev.sys[F_EXE]
        if s.len >= 0:
            act.exe = self.exe.get(ev.arena + ev.sys_off + s.off, s.len, self._buf(0, s.len // 2 + 1))
        act.euid, act.suid, act.gid, act.egid, act.ses = euid, suid, gid, egid, ses
        s = ev.sys[F_TTY]
        if s.len >= 0:
            act.tty = self.tty.get(ev.arena + ev.sys_off + s.off, s.len, NULL)
        if ev.names.len >= 0:
            act.names = self._names(ev)
        return act

    cdef object _names(self, Event* ev):
        """An ENRICHED SYSCALL record's names (`UID="root" SYSCALL=openat ...`): the
        contract's ENRICHED_NAMES, keyed in lower case, quotes dropped; None when it has none."""
        cdef const char* pos = ev.arena + ev.names.off
        cdef const char* end = pos + ev.names.len
        cdef const char* key
        cdef const char* val
        cdef Py_ssize_t keylen, vallen
        cdef dict names = {}
        while godo_next_kv(&pos, end, &key, &keylen, &val, &vallen):
            name = _ENRICHED_NAMES.get(PyUnicode_DecodeASCII(key, keylen, "backslashreplace"))
            if name is None:
                continue
            if vallen > 0 and val[0] == c'"':
                val += 1
                vallen -= 1
                if vallen > 0 and val[vallen - 1] == c'"':
                    vallen -= 1
            names[name] = PyUnicode_DecodeUTF8(val, vallen, "backslashreplace")
        return names or None

    cdef int cook(self, Event* ev, list out) except -1:
        """The event's activity into `out`, if it has one: 0, or 1 when the event
        cannot be cooked (self.why)."""
        cdef uint64_t arch, flags
        cdef uint64_t regs[4]
        cdef int64_t nr, exitv = 0, cmd
        cdef bint has_exit
        cdef int kind
        cdef Py_ssize_t i
        cdef _ArchTable table
        cdef _Call row
        cdef const Source* cloexec
        cdef Activity act
        cdef Slice s
        cdef PathItem* item
        cdef PathItem* second
        if self._hex_field(ev, F_ARCH, &arch):
            return 1
        table = self._table(arch)
        if table is None or table.size == 0:
            return 0
        if self._dec_field(ev, F_SYSCALL, &nr):
            return 1
        if nr < 0 or nr >= table.size or table.codes[nr] == 0:
            return 0
        row = <_Call>self.calls[table.codes[nr]]
        name = table.names[nr]
        kind = row.kind
        s = ev.sys[F_SUCCESS]
        success = None if s.len < 0 else (s.len == 3 and memcmp(ev.arena + ev.sys_off + s.off, b"yes", 3) == 0)
        has_exit = ev.sys[F_EXIT].len >= 0
        exit = None
        if has_exit:
            if self._dec_field(ev, F_EXIT, &exitv):
                return 1
            exit = exitv
        if (self._hex_field(ev, F_A0, &regs[0]) or self._hex_field(ev, F_A1, &regs[1])
                or self._hex_field(ev, F_A2, &regs[2]) or self._hex_field(ev, F_A3, &regs[3])):
            return 1

        # Which activity, if any, is decided before it is built: building it reads
        # (and checks) the task's fields.
        if success is not True and not _WHEN_FAILED[kind]:
            return 0
        cloexec = &row.cloexec
        if kind == KI_EXIT:
            success = exit = None  # an exit does not return
        elif row.decides:
            if kind == KI_SPAWN:
                if not has_exit or exitv <= 0:
                    return 0
            elif row.command.form:
                cmd = <int64_t>_word(&row.command, regs)
                for i in range(_NFCNTL + 1):
                    if i == _NFCNTL:
                        return 0  # a command that neither copies nor marks
                    if _FCNTL_CMD[i] == cmd:
                        kind = _FCNTL_KIND[i]
                        cloexec = &_FCNTL_CLOEXEC[i]
                        break
            elif _word(&row.marks, regs):
                kind = KI_CLOEXEC
                cloexec = &_ALWAYS
        act = self._make(ev, _KIND_STR[kind], name, table.name, success, exit)
        if act is None:
            return 1

        # What the row places, then what the kind adds; the commonest first.
        if row.fd.form:
            act.fd = _value(&row.fd, regs)
        if kind == KI_WRITE:
            act.bytes = exit
        elif kind == KI_OPEN:
            if row.flags.form == A_OPENAT2:
                flags = <uint64_t>ev.oflag
                if ev.has_oflag:
                    act.flags = ev.oflag
            else:
                flags = _word(&row.flags, regs)
                act.flags = _value(&row.flags, regs)
                if row.mode.form:
                    act.mode = _value(&row.mode, regs)
            # The kernel reads mode only with O_CREAT or O_TMPFILE.
            if act.flags is None or not (flags & O_CREAT or flags & table.tmpfile == table.tmpfile):
                act.mode = None
            if success is True:
                act.fd = exit
        elif kind == KI_DUP:
            act.new_fd = exit
        elif kind == KI_SPAWN:
            act.child = exit
            if row.thread.form:
                act.thread = _value(&row.thread, regs)
            out.append(act)
            return 0
        elif kind == KI_EXEC:
            if self._argv(ev, act):
                return 1
            if not act.argv and ev.proctitle.len > 0:
                act.proctitle = self._proctitle(ev)
            act.cwd = self._cwd_str(ev)
        elif kind == KI_EXIT:
            act.code = _word(&row.code, regs) & EXIT_CODE_MASK
            out.append(act)
            return 0
        elif kind == KI_PIVOT_ROOT:
            item = second = NULL
            for i in range(ev.npaths):  # PARENT items count here: the kernel's order is the call's
                if not godo_is_none(ev.arena + ev.paths[i].name.off, ev.paths[i].name.len):
                    if item == NULL:
                        item = &ev.paths[i]
                    elif second == NULL:
                        second = &ev.paths[i]
            if second != NULL:
                # Relative names stay relative: the cwd they are relative to is the one
                # before the call; this event's CWD record is written after it,
                # relative to the new root. The tracker knows the one before.
                act.new_root = self._path(ev, ev.arena + item.name.off, item.name.len, False)
                act.put_old = self._path(ev, ev.arena + second.name.off, second.name.len, False)
            out.append(act)
            return 0
        elif kind == KI_KILL:
            act.target, act.signal = _value(&row.target, regs), _value(&row.signal, regs)
            out.append(act)
            return 0
        if cloexec.form:
            act.cloexec = _value(cloexec, regs)
        if row.max_fd.form:
            act.max_fd = _value(&row.max_fd, regs)
        if row.path:
            self._place(act, ev, row, kind, regs)
        out.append(act)
        return 0

    cdef int _place(self, object activity, Event* ev, _Call row, int kind, const uint64_t* regs) except -1:
        """The row's paths: each a PATH item, joined to the cwd or kept with its dirfd."""
        cdef Activity act = <Activity>activity
        cdef PathItem* item = self._item(ev, row.path)
        if item != NULL:
            self._set_path(act, ev, <int64_t>_word(&row.dirfd, regs) if row.dirfd.form else AT_FDCWD, item)
            if (kind == KI_OPEN and act.success is True and item.nametype.len == 6
                    and memcmp(ev.arena + item.nametype.off, b"CREATE", 6) == 0):
                act.created = True
        elif kind == KI_CHDIR:
            act.path = self._cwd_str(ev)
        if row.new_path:
            item = self._item(ev, row.new_path)
            if item != NULL:
                # The new name follows the old one's rules into other fields.
                old = act.path, act.dirfd
                self._set_path(act, ev, <int64_t>_word(&row.new_dirfd, regs) if row.new_dirfd.form else AT_FDCWD,
                               item)
                act.new_path, act.new_dirfd = act.path, act.dirfd
                act.path, act.dirfd = old
        return 0

    cdef PathItem* _item(self, Event* ev, int which) noexcept:
        """A row's PATH item: the file the event is about, or the name removed or made."""
        if which == I_DELETED:
            return self._item_of(ev, b"DELETE", 6)
        if which == I_CREATED:
            return self._item_of(ev, b"CREATE", 6)
        return self._file_item(ev)

    cdef int _argv(self, Event* ev, object activity) except -1:
        """EXECVE records -> act.argv: split `aN[i]` pieces joined, several records
        merged; act.argc only when the kernel's count disagrees. 0, or 1 (self.why)."""
        cdef Activity act = <Activity>activity
        cdef Py_ssize_t n = 0, i, j, k, seq = 0, joined
        cdef int64_t argc = 0, index, piece
        cdef bint has_argc = False
        cdef const char* pos
        cdef const char* end
        cdef const char* key
        cdef const char* val
        cdef const char* text
        cdef Py_ssize_t keylen, vallen, textlen
        cdef ArgPart* parts
        cdef char* buf
        cdef list argv
        if ev.nexecve == 0:
            return 0
        for i in range(ev.nexecve):
            pos = ev.arena + ev.execve[i].off
            end = pos + ev.execve[i].len
            while godo_next_kv(&pos, end, &key, &keylen, &val, &vallen):
                if keylen == 4 and memcmp(key, b"argc", 4) == 0:
                    if godo_dec(val, vallen, &argc) < 0:
                        self.why = "argc is not a number"
                        return 1
                    has_argc = True
                elif key[0] == c'a' and not (keylen >= 4 and memcmp(key + keylen - 4, b"_len", 4) == 0):
                    if _arg_key(key, keylen, &index, &piece) < 0:
                        self.why = "bad EXECVE argument key"
                        return 1
                    if n == self.parts_cap:
                        self.parts_cap = max(64, 2 * self.parts_cap)
                        parts = <ArgPart*>PyMem_Realloc(self.parts, self.parts_cap * sizeof(ArgPart))
                        if parts == NULL:
                            self.parts_cap = 0
                            raise MemoryError()
                        self.parts = parts
                    self.parts[n].index = index
                    self.parts[n].piece = piece
                    self.parts[n].seq = seq
                    self.parts[n].val = val
                    self.parts[n].len = vallen
                    n += 1
                    seq += 1
        parts = self.parts
        # The kernel writes arguments in order: sort only when they are not.
        for i in range(1, n):
            if _cmp_parts(&parts[i - 1], &parts[i]) > 0:
                qsort(parts, n, sizeof(ArgPart), _cmp_parts)
                break
        argv = []
        # Sorted by (index, piece, seq): whole arguments before pieces, and the
        # last of equal keys is the one that counts.
        buf = self._buf(2, ev.used + 1)
        i = 0
        while i < n:
            j = i
            while j < n and parts[j].index == parts[i].index:
                j += 1
            if parts[j - 1].piece >= 0:
                joined = 0
                for k in range(i, j):
                    if parts[k].piece < 0 or (k + 1 < j and parts[k + 1].piece == parts[k].piece):
                        continue
                    if godo_text(parts[k].val, parts[k].len, buf + joined, &text, &textlen):
                        memmove(buf + joined, text, textlen)
                        joined += textlen
                argv.append(PyUnicode_DecodeUTF8(buf, joined, "backslashreplace"))
            else:
                text = parts[j - 1].val
                textlen = parts[j - 1].len
                if not godo_is_none(text, textlen):
                    argv.append(_text_str(text, textlen, self._buf(1, textlen // 2 + 1)))
            i = j
        act.argv = argv
        if has_argc and argc != len(argv):
            act.argc = argc
        return 0

    cdef object _proctitle(self, Event* ev):
        cdef const char* raw = ev.arena + ev.proctitle.off
        cdef Py_ssize_t rawlen = ev.proctitle.len
        cdef const char* data = NULL
        cdef Py_ssize_t n = 0, i, start = 0
        cdef list parts = []
        cdef _TitleCache cache = self.title
        if rawlen == cache.len and memcmp(raw, cache.raw, cache.len) == 0:
            return list(cache.parts)  # each activity owns its list
        if not godo_text(raw, rawlen, self._buf(1, rawlen // 2 + 1), &data, &n):
            n = 0
        while n > 0 and data[n - 1] == 0:
            n -= 1
        for i in range(n + 1):
            if i == n or data[i] == 0:
                parts.append(PyUnicode_DecodeUTF8(data + start, i - start, "backslashreplace"))
                start = i + 1
        if rawlen <= <Py_ssize_t>sizeof(cache.raw):
            memcpy(cache.raw, raw, rawlen)
            cache.len = rawlen
            cache.parts = tuple(parts)
        return parts

    cdef object _cwd_str(self, Event* ev):
        if ev.cwd.len < 0:
            return None
        return _text_str(ev.arena + ev.cwd.off, ev.cwd.len, self._buf(0, ev.cwd.len // 2 + 1))

    cdef object _path(self, Event* ev, const char* raw, Py_ssize_t n, bint join):
        """join(cwd, name) when `join`, else normalise(name), from a raw name
        that is not None."""
        cdef const char* name = raw
        cdef const char* cwd
        cdef Py_ssize_t nn = 0, nc
        cdef char* joined
        cdef char* normal
        godo_text(raw, n, self._buf(1, n // 2 + 1), &name, &nn)
        if join and not (nn > 0 and name[0] == c'/') and ev.cwd.len >= 0 and godo_text(
                ev.arena + ev.cwd.off, ev.cwd.len, self._buf(0, ev.cwd.len // 2 + 1), &cwd, &nc):
            joined = self._buf(2, nc + 1 + nn)
            memcpy(joined, cwd, nc)
            joined[nc] = c'/'
            memcpy(joined + nc + 1, name, nn)
            name = joined
            nn += nc + 1
        if godo_needs_normpath(name, nn):
            normal = self._buf(3, nn + 1)
            nn = godo_normpath(name, nn, normal)
            name = normal
        return PyUnicode_DecodeUTF8(name, nn, "backslashreplace")

    cdef int _set_path(self, object activity, Event* ev, int64_t dirfd, PathItem* item) except -1:
        cdef Activity act = <Activity>activity
        cdef const char* raw
        cdef const char* name = NULL
        cdef Py_ssize_t nn = 0
        if item == NULL:
            return 0
        raw = ev.arena + item.name.off
        godo_text(raw, item.name.len, self._buf(1, item.name.len // 2 + 1), &name, &nn)
        if dirfd != AT_FDCWD and not (nn > 0 and name[0] == c'/'):
            # Relative to a directory fd: only the tracker's fd table knows where it points.
            act.path = self._path(ev, raw, item.name.len, False)
            act.dirfd = dirfd
        else:
            act.path = self._path(ev, raw, item.name.len, True)
            act.dirfd = None
        return 0

    cdef PathItem* _file_item(self, Event* ev) noexcept:
        """The file an event is about: never a PARENT item."""
        cdef Py_ssize_t i
        cdef PathItem* item
        for i in range(ev.npaths):
            item = &ev.paths[i]
            if item.name.len < 0 or godo_is_none(ev.arena + item.name.off, item.name.len):
                continue
            if item.nametype.len == 6 and memcmp(ev.arena + item.nametype.off, b"PARENT", 6) == 0:
                continue
            return item
        return NULL

    cdef PathItem* _item_of(self, Event* ev, const char* kind, Py_ssize_t n) noexcept:
        cdef Py_ssize_t i
        cdef PathItem* item
        for i in range(ev.npaths):
            item = &ev.paths[i]
            if item.name.len < 0 or godo_is_none(ev.arena + item.name.off, item.name.len):
                continue
            if item.nametype.len == n and memcmp(ev.arena + item.nametype.off, kind, n) == 0:
                return item
        return NULL
