"""The tracker's file part: fd tables shared across dup and fork, and the lifetime
of each open file description, from its open to its last holder's close.

`Files` owns the serial of the open files it makes and the count of those closed;
the tracker lends it the batch's outbox (`out`, where a closed file's document
goes), and hands each call the process the activity came from, in scope.
"""

from __future__ import annotations

from ..vocab import kernel as C
# Fellow parts by `.`, shared modules by `..tracker`: compiled, this file is
# godo._tracker_c.files, whose fellows are compiled too (setup.py).
from ..fds import fd_path
from .model import OpenFile, Process, new_open_file
from .paths import join, real_exe

_O_CLOEXEC = C.O_CLOEXEC


class Files:
    """The handlers of open, write, close, dup and close-on-exec, and what they share."""

    def __init__(self, out: list, live: bool):
        self._out = out
        self.live = live
        self._serial = 0
        self.closed = 0  # open files written closed: the run's count of `files`

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def resolve(self, proc: Process, path: str | None, dirfd: int | None) -> str | None:
        """A cooked path placed: one relative to a directory fd joined to where that
        fd points, when this process's fd table knows."""
        if dirfd is not None and path is not None and not path.startswith("/"):
            base = proc.fds.get(dirfd) if proc.fds else None
            if base is not None and base.path:
                return join(base.path, path)
        return path

    def open(self, proc: Process, act) -> None:
        path = self.resolve(proc, act.path, act.dirfd)
        if not act.success or act.fd is None:
            return
        fd = act.fd
        if fd in proc.fds:
            self.release(proc, fd, act.ts)
        open_file = new_open_file(self._next_serial(), proc, fd, path, act.flags, act.arch,
                                  act.mode, act.ts, bool(act.created), False)
        # The names the open's own record gives: the process may have changed its
        # name since the tracker last took it (runc init, re-executed as `exe`,
        # becomes the container's `sh`).
        open_file.comm, open_file.exe = act.comm, real_exe(act.exe, proc.exe)
        if proc.root and path and path.startswith("/"):
            open_file.host_path = join(proc.root, path.lstrip("/"))
        proc.fds[fd] = open_file
        bits = act.flags if act.flags is not None else 0  # (compiled: a C integer)
        if bits & _O_CLOEXEC:
            proc.cloexec.add(fd)
        else:
            proc.cloexec.discard(fd)

    def file(self, proc: Process, fd: int, ts: float) -> OpenFile | None:
        """The open file behind an fd; one inherited from before we looked is
        created on first use (its path read from /proc when live)."""
        open_file = proc.fds.get(fd)
        if open_file is None and fd >= 0:
            path = fd_path(proc.pid, fd) if self.live else None
            if path is not None and any(f.path == path for f in proc.fds.values()):
                # /proc answers for now, and records are read a little after they
                # happen: an fd naming a file this process opened since (a shell's
                # `> file` dup2'd over its stdout) was something else back then.
                path = None
            open_file = self._inherited(proc, fd, path, ts)
        return open_file

    def write(self, proc: Process, act) -> bool:
        """A write through an fd; True when it is the first to its open file (the
        process's, and its container's, count of files written grows)."""
        open_file = self.file(proc, act.fd, act.ts)
        if open_file is None:
            return False
        first = open_file.writes == 0
        if first:
            open_file.first_write = act.ts
            proc.files_written += 1
        open_file.writes += 1
        nbytes = act.bytes or 0  # (compiled: a C integer, added in C)
        open_file.bytes += nbytes
        open_file.last_write = act.ts
        open_file.dirty = True
        if open_file.proc is not proc:
            if open_file.writers is None:
                open_file.writers = set()
            open_file.writers.add(proc.pid)
        return first

    def close(self, proc: Process, act) -> None:
        if act.max_fd is None:
            self.release(proc, act.fd, act.ts)
            return
        for fd in [fd for fd in proc.fds if act.fd <= fd <= act.max_fd]:
            self.release(proc, fd, act.ts)

    def release(self, proc: Process, fd: int, ts: float) -> None:
        """`fd` closed: its open file's document is written when no one holds it."""
        open_file = proc.fds.pop(fd, None)
        proc.cloexec.discard(fd)
        if open_file is None:
            return
        open_file.refs -= 1
        if open_file.refs <= 0:
            open_file.closed = ts
            self.closed += 1
            self._out.append(("files", open_file.seal()))

    def dup(self, proc: Process, act) -> None:
        open_file = self.file(proc, act.fd, act.ts)
        if open_file is None or act.new_fd == act.fd:
            return
        if act.new_fd in proc.fds:
            self.release(proc, act.new_fd, act.ts)
        proc.fds[act.new_fd] = open_file
        open_file.refs += 1
        if act.cloexec:
            proc.cloexec.add(act.new_fd)
        else:
            proc.cloexec.discard(act.new_fd)

    def set_cloexec(self, proc: Process, act) -> None:
        fds = [act.fd] if act.max_fd is None else [fd for fd in proc.fds if act.fd <= fd <= act.max_fd]
        for fd in fds:
            if act.cloexec:
                proc.cloexec.add(fd)
            else:
                proc.cloexec.discard(fd)

    def inherit(self, proc: Process, fds: dict[int, str | None], ts: float) -> None:
        """Open files a process had before we looked. Read while it is known to
        hold them: a lookup in /proc at the first write would race with its dup2s."""
        for fd, path in fds.items():
            self._inherited(proc, fd, path, ts)

    def _inherited(self, proc: Process, fd: int, path: str | None, ts: float) -> OpenFile:
        open_file = new_open_file(self._next_serial(), proc, fd, path, None, None, None, ts,
                                  False, True)
        proc.fds[fd] = open_file
        return open_file
