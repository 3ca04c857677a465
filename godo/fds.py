"""The file descriptors a process holds, as /proc/PID/fd shows them: what the
tracker inherits for processes it did not see open their files, and what the
store asks of a database server's sockets."""

from __future__ import annotations

import os


def open_fds(pid: int | str) -> dict[int, str | None]:
    """fd -> what it names (None: closed since it was listed), for a live process
    (`self` for godo's own); empty when the process is gone or not ours to read."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return {}
    return {int(name): fd_path(pid, int(name)) for name in names if name.isdigit()}


def fd_path(pid: int | str, fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
