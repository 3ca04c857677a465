"""What the tracker keeps, and the documents made of it: processes, open files,
containers.

The tracker hands these objects to the store as they are (a mutation's document
source); the store makes each one's document when it encodes it, off the live
thread, and a store that keeps nothing never makes it. So what a document shows
of another object is copied in when the object is handed over (`OpenFile.seal`).
Every object knows its `Context` (host, boot, run): its document needs them."""

from __future__ import annotations

from datetime import datetime, timezone

from ..vocab import kernel as C


# Audit stamps have a millisecond's resolution, and a file's opening, writes and
# closing mostly share one: datetimes (immutable) are made once per stamp and
# shared, from a small cache emptied when full.
_UTC_CACHE: dict[float, datetime] = {}
_UTC_CACHE_SIZE = 4096
_UTC = timezone.utc


def utc(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    made = _UTC_CACHE.get(ts)
    if made is None:
        if len(_UTC_CACHE) >= _UTC_CACHE_SIZE:
            _UTC_CACHE.clear()
        made = _UTC_CACHE[ts] = datetime.fromtimestamp(ts, _UTC)
    return made


_ACCESS = {0: "r", C.O_WRONLY: "w", C.O_RDWR: "rw"}
_O_TRUNC, _O_ACCMODE = C.O_TRUNC, C.O_ACCMODE

# (flags, arch) -> their names: opens repeat a few combinations, decoded once each.
_FLAG_NAMES: dict[tuple, tuple] = {}
_FLAG_NAMES_SIZE = 1024


def flag_names(flags: int | None, arch: str | None) -> list[str] | None:
    """open(2) flags by name, as the contract's table for `arch` has them."""
    if flags is None:
        return None
    names = _FLAG_NAMES.get((flags, arch))
    if names is None:
        table = C.OPEN_FLAG_NAMES_BY_ARCH.get(arch, C.OPEN_FLAG_NAMES)
        found = [C.OPEN_ACCESS_NAMES.get(flags & _O_ACCMODE, "O_ACCMODE")]
        rest = flags & ~_O_ACCMODE
        for name, bits in table.items():
            if rest & bits == bits:
                found.append(name)
                rest &= ~bits
        if rest:
            found.append(hex(rest))
        if len(_FLAG_NAMES) >= _FLAG_NAMES_SIZE:
            _FLAG_NAMES.clear()
        names = _FLAG_NAMES[flags, arch] = tuple(found)
    return list(names)


# What one process may put in its document, which the database takes only up to
# 16 MiB: an argv (the process's, and each run's in its exec history) keeps up to
# ARGV_BYTES from its two ends, the history its first and last runs, and the
# document says what was cut. With the tracker's other bounds (children, fs_ops)
# a document stays under 14 MiB for anything a real kernel can report.
ARGV_BYTES = 128 * 1024
EXECS_FIRST = 32
EXECS_LAST = 32


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _head(text: str, room: int) -> str:
    return text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")


def _tail(text: str, room: int) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return raw[len(raw) - room:].decode("utf-8", "ignore") if room > 0 else ""


def bound_argv(argv):
    """`(argv, None)` when it is within ARGV_BYTES, else both its ends within it
    and what was cut: `{kept, dropped_args, dropped_bytes}` (an argument cut in
    two counts as kept). The arguments at either end that do not fit whole
    are cut to the room left, so the program's name and its last argument stay."""
    if argv is None:
        return None, None
    chars = 0
    for arg in argv:
        chars += len(arg)
    if chars * 4 <= ARGV_BYTES:  # a UTF-8 character is at most 4 bytes
        return argv, None
    sizes = [_utf8_len(arg) for arg in argv]
    total = sum(sizes)
    if total <= ARGV_BYTES:
        return argv, None
    half = ARGV_BYTES // 2
    head, used, i, n = [], 0, 0, len(argv)
    # The last argument is the tail's, unless it is the only one.
    while i < max(n - 1, 1) and used < half:
        room = half - used
        head.append(argv[i] if sizes[i] <= room else _head(argv[i], room))
        used += min(sizes[i], room)
        i += 1
    tail, used_tail, j = [], 0, n
    while j > i and used_tail < half:
        room = half - used_tail
        tail.append(argv[j - 1] if sizes[j - 1] <= room else _tail(argv[j - 1], room))
        used_tail += min(sizes[j - 1], room)
        j -= 1
    tail.reverse()
    kept = head + tail
    return kept, {"kept": len(kept), "dropped_args": n - len(kept),
                  "dropped_bytes": total - used - used_tail}


class Context:
    """What every document of one run carries: the host, its boot, the run."""

    __slots__ = ("host", "boot", "run")

    def __init__(self, host: str, boot: str, run: str | None):
        self.host = host
        self.boot = boot
        self.run = run


class OpenFile:
    """One open file description: shared by every fd that dup or fork made of it."""

    __slots__ = ("serial", "proc", "fd", "path", "host_path", "flags", "arch", "mode", "opened",
                 "closed", "writes", "bytes", "first_write", "last_write", "created", "truncated",
                 "refs", "inherited", "dirty", "writers", "comm", "exe", "container", "runtime")

    def __init__(self, serial, proc, fd, path, flags, mode, opened, created, inherited):
        """One held by no fd yet (the tracker makes its own with `new_open_file`)."""
        self._set(serial, proc, fd, path, flags, None, mode, opened, created, inherited, 0)

    def _set(self, serial, proc, fd, path, flags, arch, mode, opened, created, inherited,
             refs) -> OpenFile:
        self.serial = serial  # this run's count of open files, when this one was opened
        self.proc = proc
        self.fd = fd
        self.path = path
        self.host_path = None
        self.flags = flags
        self.arch = arch  # the open's, whose flag values `flags` are
        self.mode = mode
        self.opened = opened
        self.closed = None
        self.writes = 0
        self.bytes = 0
        self.first_write = None
        self.last_write = None
        self.created = created
        bits = flags if flags is not None else 0  # (compiled: a C integer)
        self.truncated = bool(bits & _O_TRUNC and bits & _O_ACCMODE)
        self.refs = refs
        self.inherited = inherited
        self.dirty = True
        self.writers = None  # pids other than the opener that wrote through it
        self.comm = self.exe = self.container = None  # the opener's, when handed over
        self.runtime = False
        return self

    @property
    def id(self) -> str:
        """Its document's `_id`: the process, the fd, when, and the run's count."""
        return f"{self.proc.id}:{self.fd}:{int(self.opened * 1000)}:{self.serial}"

    def seal(self) -> OpenFile:
        """Hand over: the opener's names as its open's record gave them (an exec
        later changes the process's), else, for a file inherited from before godo
        looked, the holder's as they are now; its container as it is now."""
        proc = self.proc
        if self.comm is None and self.exe is None:
            self.comm, self.exe = proc.comm, proc.exe
        self.container = proc.container
        self.runtime = proc.runtime
        return self

    def document(self) -> dict:
        proc = self.proc
        ctx = proc.ctx
        flags = self.flags
        access = None
        if flags is not None:
            access = _ACCESS.get(flags & _O_ACCMODE, "?")
        # utc(), its cache looked up here first: a file's stamps are mostly cached.
        cached = _UTC_CACHE.get
        opened, closed, first, last = self.opened, self.closed, self.first_write, self.last_write
        return {
            "_id": self.id, "host": ctx.host, "run": ctx.run, "process": proc.id, "pid": proc.pid,
            "comm": self.comm, "exe": self.exe, "container": self.container,
            "runtime": self.runtime, "fd": self.fd, "path": self.path, "host_path": self.host_path,
            "flags": flags, "flag_names": flag_names(flags, self.arch), "mode": self.mode,
            "access": access,
            "opened": cached(opened) or utc(opened), "closed": cached(closed) or utc(closed),
            "status": "closed" if self.closed is not None else "open",
            "writes": self.writes, "bytes": self.bytes,
            "first_write": cached(first) or utc(first), "last_write": cached(last) or utc(last),
            "created": self.created, "truncated": self.truncated, "inherited": self.inherited,
            "writers": sorted(self.writers) if self.writers else [],
        }


def new_open_file(serial, proc, fd, path, flags, arch, mode, opened, created,
                  inherited) -> OpenFile:
    """An open file description as its open made it (or, `inherited`, as the first
    look at a process that held it before godo found it), held by `fd` alone.
    The tracker's way to make one: no constructor call, whose arguments would be
    parsed from a tuple each time."""
    made = OpenFile.__new__(OpenFile)
    return made._set(serial, proc, fd, path, flags, arch, mode, opened, created, inherited, 1)


class Process:
    __slots__ = ("id", "pid", "ppid", "parent", "start", "comm", "exe", "argv", "cwd", "uid",
                 "auid", "euid", "suid", "gid", "egid", "ses", "tty", "names", "execs", "children", "children_count", "exit_time", "exit_code",
                 "signal", "status", "container", "shim_id", "runtime", "root", "in_scope", "threads",
                 "fds", "cloexec", "dirty", "seeded", "fs_ops", "files_written", "proc_start",
                 "audited", "ctx", "argv_cut", "execs_dropped")

    def __init__(self, id, pid, ppid, parent, start, ctx: Context):
        self.ctx = ctx
        self.id = id
        self.pid = pid
        self.ppid = ppid
        self.parent = parent          # the parent's id, or None
        self.start = start
        self.comm = self.exe = self.argv = self.cwd = None
        self.uid = self.auid = self.euid = self.suid = self.gid = self.egid = None
        self.ses = self.tty = None
        self.names = None             # what an ENRICHED log named its ids
        self.argv_cut = None          # what bound_argv cut from argv, or None
        self.execs = []
        self.execs_dropped = 0        # runs left out of the middle of the history
        self.children = []
        self.children_count = 0
        self.exit_time = self.exit_code = self.signal = None
        self.status = "running"
        self.container = None
        self.shim_id = None           # on a runtime process: the container its argv names
        self.runtime = False          # a container runtime's plumbing, not a workload
        self.root = None              # host path of this process's root after pivot_root
        self.in_scope = False
        self.threads = 0
        self.fds = None               # fd -> OpenFile, only for processes in scope
        self.cloexec = None
        self.dirty = True
        self.seeded = False
        self.fs_ops = None
        self.files_written = 0
        self.proc_start = None        # /proc starttime in clock ticks, to tell pid reuse
        self.audited = True           # False: started before audit's first enable of its boot

    def set_argv(self, argv) -> None:
        """The argv an exec (or /proc) gave, bounded (see `bound_argv`)."""
        self.argv, self.argv_cut = bound_argv(argv)

    def add_exec(self, run: dict) -> None:
        """One more run in the exec history: its first EXECS_FIRST and last
        EXECS_LAST are kept, and the number left out between them."""
        if self.argv_cut is not None:
            run["argv_truncated"] = self.argv_cut
        execs = self.execs
        if len(execs) >= EXECS_FIRST + EXECS_LAST:
            del execs[EXECS_FIRST]
            self.execs_dropped += 1
        execs.append(run)

    def document(self) -> dict:
        ctx = self.ctx
        cut = {}
        if self.argv_cut is not None:
            cut["argv_truncated"] = self.argv_cut
        if self.execs_dropped:
            cut["execs_dropped"] = self.execs_dropped
        return {
            "_id": self.id, "host": ctx.host, "boot_id": ctx.boot, "run": ctx.run,
            "pid": self.pid, "ppid": self.ppid, "parent": self.parent,
            "start": utc(self.start), "exit_time": utc(self.exit_time),
            "exit_code": self.exit_code, "signal": self.signal, "status": self.status,
            "comm": self.comm, "exe": self.exe, "argv": self.argv, "cwd": self.cwd,
            # Copies: the store encodes the document later, and these lists grow.
            "uid": self.uid, "auid": self.auid, "euid": self.euid, "suid": self.suid,
            "gid": self.gid, "egid": self.egid, "ses": self.ses, "tty": self.tty,
            **({"names": self.names} if self.names is not None else {}),
            "execs": list(self.execs),
            "children": list(self.children), "children_count": self.children_count,
            "container": self.container, "runtime": self.runtime, "rootfs": self.root,
            "threads": self.threads,
            "seeded": self.seeded, "fs_ops": list(self.fs_ops) if self.fs_ops else [],
            "files_written": self.files_written, **cut,
            # Only where it is false: the kernel never audits this process.
            **({} if self.audited else {"audited": False}),
        }


class Container:
    """One container: what its runtime's argv names it (id, name, namespace, the
    engine), the process that entered it (its init: the workload's root) and
    how that ended. `processes` counts the workload; `runtime_processes` the
    runtime's own processes that acted for it."""

    __slots__ = ("id", "name", "namespace", "engine", "pod", "rootfs", "init", "init_pid",
                 "first", "last", "processes", "runtime_processes", "files_written",
                 "exit_code", "signal", "status", "dirty", "ctx")

    def __init__(self, cid: str, ts: float, ctx: Context):
        self.ctx = ctx
        self.id = cid
        self.name = self.namespace = self.engine = self.pod = None
        self.rootfs = None
        self.init = self.init_pid = None
        self.first = self.last = ts
        self.processes = 0
        self.runtime_processes = 0
        self.files_written = 0
        self.exit_code = self.signal = None
        self.status = "running"
        self.dirty = True

    def document(self) -> dict:
        host, run = self.ctx.host, self.ctx.run
        # One document per container and run, each with that run's counts: the
        # `containers` listing adds them up without reading processes or files.
        return {"_id": f"{run}:{self.id}" if run else f"{host}:{self.id}", "id": self.id,
                "name": self.name,
                "namespace": self.namespace, "runtime": self.engine, "pod": self.pod,
                "host": host, "run": self.ctx.run, "rootfs": self.rootfs, "init": self.init,
                "init_pid": self.init_pid, "first_seen": utc(self.first),
                "last_seen": utc(self.last), "processes": self.processes,
                "runtime_processes": self.runtime_processes,
                "files_written": self.files_written, "status": self.status,
                "exit_code": self.exit_code, "signal": self.signal}
