"""The tracker's file half: fd tables shared across dup and fork, and the lifetime of
each open file description, from its open to its last holder's close.

`Files` is the base of `Tracker` (tracker.py), whose state it shares: `_get` (the
process an activity comes from) is the tracker's.
"""

from __future__ import annotations

from ..vocab import kernel as C
from . import procfs
from .model import OpenFile, Process
from .paths import join
from .runtimes import real_exe

_O_CLOEXEC = C.O_CLOEXEC


class Files:
    """The handlers of open, write, close, dup and close-on-exec, and what they share."""

    def _get(self, act) -> Process:
        raise NotImplementedError  # the tracker's

    def _file_serial_next(self) -> int:
        self._file_serial += 1
        return self._file_serial

    def _resolve(self, proc: Process, path: str | None, dirfd: int | None) -> str | None:
        """A cooked path placed: one relative to a directory fd joined to where that
        fd points, when this process's fd table knows."""
        if dirfd is not None and path is not None and not path.startswith("/"):
            base = proc.fds.get(dirfd) if proc.fds else None
            if base is not None and base.path:
                return join(base.path, path)
        return path

    def _open(self, act) -> None:
        proc = self._get(act)
        if not proc.in_scope:
            self.counts["out_of_scope"] += 1
            return
        path = self._resolve(proc, act.path, act.dirfd)
        if not act.success or act.fd is None:
            return
        fd = act.fd
        if fd in proc.fds:
            self._release(proc, fd, act.ts)
        open_file = OpenFile(self._file_serial_next(), proc, fd, path, act.flags, act.mode,
                             act.ts, bool(act.created), False)
        open_file.arch = act.arch
        # The names the open's own record gives: the process may have changed its
        # name since the tracker last took it (runc init, re-executed as `exe`,
        # becomes the container's `sh`).
        open_file.comm, open_file.exe = act.comm, real_exe(act.exe, proc.exe)
        if proc.root and path and path.startswith("/"):
            open_file.host_path = join(proc.root, path.lstrip("/"))
        open_file.refs = 1
        proc.fds[fd] = open_file
        if act.flags is not None and act.flags & _O_CLOEXEC:
            proc.cloexec.add(fd)
        else:
            proc.cloexec.discard(fd)

    def _file(self, proc: Process, fd: int, ts: float) -> OpenFile | None:
        """The open file behind an fd; one inherited from before we looked is
        created on first use (its path read from /proc when live)."""
        open_file = proc.fds.get(fd)
        if open_file is None and fd >= 0:
            path = procfs.fd_path(proc.pid, fd) if self.live else None
            if path is not None and any(f.path == path for f in proc.fds.values()):
                # /proc answers for now, and records are read a little after they
                # happen: an fd naming a file this process opened since (a shell's
                # `> file` dup2'd over its stdout) was something else back then.
                path = None
            open_file = OpenFile(self._file_serial_next(), proc, fd, path, None, None, ts,
                                 False, True)
            open_file.refs = 1
            proc.fds[fd] = open_file
        return open_file

    def _write(self, act) -> None:
        proc = self._get(act)
        if not proc.in_scope:
            self.counts["out_of_scope"] += 1
            return
        open_file = self._file(proc, act.fd, act.ts)
        if open_file is None:
            return
        if open_file.writes == 0:
            open_file.first_write = act.ts
            proc.files_written += 1
            if proc.container is not None and not proc.runtime and proc.container in self.containers:
                self.containers[proc.container].files_written += 1
                self.containers[proc.container].dirty = True
        open_file.writes += 1
        open_file.bytes += act.bytes or 0
        open_file.last_write = act.ts
        open_file.dirty = True
        if open_file.proc is not proc:
            if open_file.writers is None:
                open_file.writers = set()
            open_file.writers.add(proc.pid)

    def _close(self, act) -> None:
        proc = self._get(act)
        if not proc.fds:
            return
        if act.max_fd is None:
            self._release(proc, act.fd, act.ts)
            return
        for fd in [fd for fd in proc.fds if act.fd <= fd <= act.max_fd]:
            self._release(proc, fd, act.ts)

    def _release(self, proc: Process, fd: int, ts: float) -> None:
        open_file = proc.fds.pop(fd, None)
        proc.cloexec.discard(fd)
        if open_file is None:
            return
        open_file.refs -= 1
        if open_file.refs <= 0:
            open_file.closed = ts
            self.counts["files"] += 1
            self._out.append(("files", open_file.seal()))

    def _dup(self, act) -> None:
        proc = self._get(act)
        if not proc.in_scope or act.new_fd is None:
            return
        open_file = self._file(proc, act.fd, act.ts)
        if open_file is None or act.new_fd == act.fd:
            return
        if act.new_fd in proc.fds:
            self._release(proc, act.new_fd, act.ts)
        proc.fds[act.new_fd] = open_file
        open_file.refs += 1
        if act.cloexec:
            proc.cloexec.add(act.new_fd)
        else:
            proc.cloexec.discard(act.new_fd)

    def _set_cloexec(self, act) -> None:
        proc = self._get(act)
        if not proc.fds:
            return
        fds = [act.fd] if act.max_fd is None else [fd for fd in proc.fds if act.fd <= fd <= act.max_fd]
        for fd in fds:
            if act.cloexec:
                proc.cloexec.add(fd)
            else:
                proc.cloexec.discard(fd)

    def _inherit(self, proc: Process, fds: dict[int, str | None], ts: float) -> None:
        """Open files a process had before we looked. Read while it is known to
        hold them: a lookup in /proc at the first write would race with its dup2s."""
        for fd, path in fds.items():
            open_file = OpenFile(self._file_serial_next(), proc, fd, path, None, None, ts,
                                 False, True)
            open_file.refs = 1
            proc.fds[fd] = open_file
